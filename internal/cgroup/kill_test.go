//go:build linux

package cgroup

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
)

// treeScript leaves three sleeps in the cgroup: one in a session of its
// own (setsid), one double-forked (its parent subshell exits, so it is
// re-parented to init), and the shell's last command.
const treeScript = "setsid sleep 600 & (sleep 600 &) ; sleep 600"

// startTree starts treeScript in g and returns the shell and the three
// sleeps, once all three run. It checks that one sleep has a session of
// its own: a group-wide kill(-pgid) would miss it.
func startTree(t *testing.T, g Group) (*exec.Cmd, []int) {
	t.Helper()
	cmd := startIn(t, g, "sh", "-c", treeScript)
	var sleeps []int
	waitFor(t, "three sleeps in the cgroup", func() (bool, error) {
		var err error
		sleeps, err = procsNamed(g, "sleep")
		return len(sleeps) == 3, err
	})
	sessions := map[string]bool{}
	for _, pid := range sleeps {
		sid, err := procField(pid, 6)
		if err != nil {
			t.Fatal(err)
		}
		sessions[sid] = true
	}
	if len(sessions) < 2 {
		t.Fatalf("the sleeps share one session: no setsid grandchild")
	}
	return cmd, sleeps
}

// waitEmpty waits for g to empty, failing the test after patience.
func waitEmpty(t *testing.T, g Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := g.WaitEmpty(ctx); err != nil {
		t.Fatalf("WaitEmpty: %v", err)
	}
}

func TestKillTree(t *testing.T) {
	g := newTestGroup(t)
	cmd, sleeps := startTree(t, g)
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, g)
	for _, pid := range sleeps {
		if alive(pid) {
			t.Errorf("sleep %d alive after Kill and WaitEmpty", pid)
		}
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("shell: %v, want killed by SIGKILL", err)
	}
}

func TestKillEmpty(t *testing.T) {
	g := newTestGroup(t)
	if err := g.Kill(); err != nil {
		t.Fatalf("Kill of an empty cgroup: %v", err)
	}
	missing, _ := g.Child("missing")
	if err := missing.Kill(); err == nil || errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Kill of a missing cgroup: %v, want a not-exist error", err)
	}
}

// TestRefuseSelf uses a fake directory that claims the test's own cgroup
// path, so that a failed check writes nowhere.
func TestRefuseSelf(t *testing.T) {
	own, err := selfCgroup()
	if err != nil {
		t.Skip(err)
	}
	g := Group{dir: t.TempDir(), path: own}
	if err := g.Kill(); !errors.Is(err, ErrContainsSelf) {
		t.Errorf("Kill of the own cgroup: %v, want ErrContainsSelf", err)
	}
	if _, err := g.Signal(context.Background(), syscall.SIGTERM); !errors.Is(err, ErrContainsSelf) {
		t.Errorf("Signal of the own cgroup: %v, want ErrContainsSelf", err)
	}
	if own != "/" {
		g.path = "/"
		if err := g.Kill(); !errors.Is(err, ErrContainsSelf) {
			t.Errorf("Kill of the root cgroup: %v, want ErrContainsSelf", err)
		}
	}
}
