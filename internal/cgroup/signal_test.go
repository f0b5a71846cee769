//go:build linux

package cgroup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
)

// TestSignalTree sends TERM through the cgroup and checks that it reaches
// every process, the setsid and double-forked sleeps included.
func TestSignalTree(t *testing.T) {
	g := newTestGroup(t)
	outsider := startOutside(t, "sleep", "600")
	cmd, sleeps := startTree(t, g)
	n, err := g.Signal(context.Background(), syscall.SIGTERM)
	if err != nil {
		t.Fatal(err)
	}
	pids, _ := g.treeProcs() // the shell, unless it exec'd its last sleep
	if n < len(sleeps) {
		t.Errorf("Signal() = %d, want at least the %d sleeps (cgroup now: %v)", n, len(sleeps), pids)
	}
	waitEmpty(t, g)
	for _, pid := range sleeps {
		if alive(pid) {
			t.Errorf("sleep %d alive after TERM", pid)
		}
	}
	_ = cmd.Wait()
	if !alive(outsider.Process.Pid) {
		t.Errorf("a process outside the cgroup was signalled")
	}
	if frozen, _ := os.ReadFile(g.file("cgroup.freeze")); strings.TrimSpace(string(frozen)) != "0" {
		t.Errorf("cgroup.freeze = %q after Signal, want thawed", frozen)
	}
}

// TestSignalMemberChecksCgroup calls the proof step directly with a
// process outside the cgroup, as if its PID had been read from
// cgroup.procs and reused before the pidfd was opened.
func TestSignalMemberChecksCgroup(t *testing.T) {
	g := newTestGroup(t)
	outsider := startOutside(t, "sleep", "600")
	ok, err := signalMember(outsider.Process.Pid, g.Path(), syscall.SIGKILL, false)
	if ok || err != nil {
		t.Errorf("signalMember(outsider) = %v, %v; want not signalled", ok, err)
	}
	if !alive(outsider.Process.Pid) {
		t.Error("the outsider was killed")
	}
	if ok, err := signalMember(1<<30, g.Path(), syscall.SIGKILL, false); ok || err != nil {
		t.Errorf("signalMember(no such PID) = %v, %v; want false, nil", ok, err)
	}
}

func TestSignalEmpty(t *testing.T) {
	g := newTestGroup(t)
	if n, err := g.Signal(context.Background(), syscall.SIGTERM); n != 0 || err != nil {
		t.Errorf("Signal() of an empty cgroup = %d, %v", n, err)
	}
}

// TestSignalKeepsForeignFreeze: a cgroup frozen by someone else stays
// frozen. A handled TERM stays pending and acts at the thaw; an unhandled
// one is fatal at once (the kernel turns it into a kill), frozen or not.
func TestSignalKeepsForeignFreeze(t *testing.T) {
	g := newTestGroup(t)
	marker := filepath.Join(t.TempDir(), "got-term")
	cmd := startIn(t, g, "sh", "-c", `trap 'echo > "$0"; exit 0' TERM; sleep 600 & wait`, marker)
	var sleeps []int
	waitFor(t, "the sleep", func() (bool, error) {
		var err error
		sleeps, err = procsNamed(g, "sleep")
		return len(sleeps) == 1, err
	})
	if err := writeFile(g.file("cgroup.freeze"), "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frozen 1", func() (bool, error) {
		ev, err := g.events()
		return ev["frozen"] == 1, err
	})
	n, err := g.Signal(context.Background(), syscall.SIGTERM)
	if n != 2 || err != nil {
		t.Fatalf("Signal() = %d, %v; want 2", n, err)
	}
	if frozen, _ := os.ReadFile(g.file("cgroup.freeze")); strings.TrimSpace(string(frozen)) != "1" {
		t.Fatalf("cgroup.freeze = %q after Signal, want still frozen", frozen)
	}
	waitFor(t, "the unhandled TERM to kill the frozen sleep", func() (bool, error) { return !alive(sleeps[0]), nil })
	if _, err := os.Stat(marker); err == nil || !alive(cmd.Process.Pid) {
		t.Fatal("the shell ran its TERM trap while frozen")
	}
	if err := writeFile(g.file("cgroup.freeze"), "0"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("shell after thaw: %v, want exit 0 from its trap", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("trap marker: %v", err)
	}
	waitEmpty(t, g)
}

// TestSignalRoundsUnfrozen runs the path taken without cgroup.freeze.
func TestSignalRoundsUnfrozen(t *testing.T) {
	g := newTestGroup(t)
	_, sleeps := startTree(t, g)
	n, err := g.signalRounds(context.Background(), syscall.SIGTERM, false, map[int]bool{})
	if err != nil || n < len(sleeps) {
		t.Fatalf("signalRounds() = %d, %v; want at least %d", n, err, len(sleeps))
	}
	waitEmpty(t, g)
}

func TestSignalCanceled(t *testing.T) {
	g := newTestGroup(t)
	startIn(t, g, "sleep", "600")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Signal(ctx, syscall.SIGTERM); !errors.Is(err, context.Canceled) {
		t.Fatalf("Signal with a canceled context: %v", err)
	}
	if frozen, _ := os.ReadFile(g.file("cgroup.freeze")); strings.TrimSpace(string(frozen)) != "0" {
		t.Errorf("cgroup.freeze = %q after a canceled Signal, want thawed", frozen)
	}
}

// TestSignalContWakesStopped: a shell stopped by SIGSTOP acts on nothing
// but KILL. Signal leaves its TERM pending; SignalCont sends CONT after it,
// so the shell wakes up to the TERM and runs its trap, frozen tree or not.
func TestSignalContWakesStopped(t *testing.T) {
	g := newTestGroup(t)
	marker := filepath.Join(t.TempDir(), "got-term")
	cmd := startIn(t, g, "sh", "-c", `trap 'echo > "$0"; exit 0' TERM; while :; do sleep 0.05; done`, marker)
	waitFor(t, "a sleep: the trap is set", func() (bool, error) {
		sleeps, err := procsNamed(g, "sleep")
		return len(sleeps) > 0, err
	})
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shell stopped", func() (bool, error) { return procState(cmd.Process.Pid) == 'T', nil })

	if _, err := g.Signal(context.Background(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A CONT wakes a stopped process as it is sent, so one sent with the
	// TERM would show now: the shell is still stopped, the TERM pending.
	if st := procState(cmd.Process.Pid); st != 'T' {
		t.Fatalf("the shell is in state %c after a plain Signal, want still stopped", st)
	}

	start := time.Now()
	n, err := g.SignalCont(context.Background(), syscall.SIGTERM)
	if err != nil || n == 0 {
		t.Fatalf("SignalCont() = %d, %v", n, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("shell after SignalCont: %v, want exit 0 from its TERM trap", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("trap marker: %v", err)
	}
	t.Logf("a SIGSTOPped shell ran its TERM trap %s after SignalCont", time.Since(start).Round(time.Millisecond))
	waitEmpty(t, g)
}

// TestSignalWithoutInotify: with the user's inotify instances used up, the
// freeze cannot watch cgroup.events for "frozen 1". Signal still freezes
// (by polling), reaches every process of the tree, and says it went on
// without the watch; it used to fail without signalling anything.
func TestSignalWithoutInotify(t *testing.T) {
	g := newTestGroup(t)
	_, sleeps := startTree(t, g)
	_, release := testchild.UseUpInotify(t)
	defer release()
	faults := &Faults{}
	n, err := g.Signal(WithFaults(context.Background(), faults), syscall.SIGTERM)
	release()
	if err != nil || n < len(sleeps) {
		t.Fatalf("Signal() = %d, %v; want at least the %d sleeps", n, err, len(sleeps))
	}
	if have := faults.List(); len(have) != 1 || have[0].Helper != HelperWatch {
		t.Errorf("faults %v, want the watch", have)
	}
	waitEmpty(t, g)
	if frozen, _ := os.ReadFile(g.file("cgroup.freeze")); strings.TrimSpace(string(frozen)) != "0" {
		t.Errorf("cgroup.freeze = %q after Signal, want thawed", frozen)
	}
}

// A tree of one process is signalled without a freeze; a tree of several
// is left to the freeze and the rounds, nothing signalled yet.
func TestSignalAlone(t *testing.T) {
	g := newTestGroup(t)
	cmd := startIn(t, g, "sleep", "600")
	seen := map[int]bool{}
	n, done, err := g.signalAlone(context.Background(), syscall.SIGTERM, false, seen)
	if n != 1 || !done || err != nil || !seen[cmd.Process.Pid] {
		t.Fatalf("signalAlone(one sleep) = %d, %v, %v; seen %v", n, done, err, seen)
	}
	_ = cmd.Wait()
	waitEmpty(t, g)
	if n, done, err := g.signalAlone(context.Background(), syscall.SIGTERM, false, seen); n != 0 || !done || err != nil {
		t.Errorf("signalAlone(empty) = %d, %v, %v", n, done, err)
	}

	_, sleeps := startTree(t, g)
	seen = map[int]bool{}
	if n, done, err := g.signalAlone(context.Background(), syscall.SIGTERM, false, seen); n != 0 || done || err != nil || len(seen) != 0 {
		t.Errorf("signalAlone(a tree) = %d, %v, %v; seen %v", n, done, err, seen)
	}
	for _, pid := range sleeps {
		if !alive(pid) {
			t.Errorf("sleep %d signalled", pid)
		}
	}
}

// A cgroup with a cgroup below it is read whole; one without, from its
// own cgroup.procs.
func TestTreeProcsLeafAndTree(t *testing.T) {
	g := newTestGroup(t)
	top := startIn(t, g, "sleep", "600")
	sub, err := g.Child("sub")
	if err != nil {
		t.Fatal(err)
	}
	pids, err := g.treeProcs()
	if err != nil || len(pids) != 1 || pids[0] != top.Process.Pid {
		t.Fatalf("leaf: %v, %v", pids, err)
	}
	if err := sub.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sub.Dir()) })
	low := startIn(t, sub, "sleep", "600")
	pids, err = g.treeProcs()
	if err != nil || len(pids) != 2 || !slices.Contains(pids, low.Process.Pid) {
		t.Errorf("tree: %v, %v; want the sleeps %d and %d", pids, err, top.Process.Pid, low.Process.Pid)
	}
}
