//go:build linux

package supervisor

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

// escaper is a child whose shell starts a setsid grandchild and a
// double-forked daemon, prints their PIDs, then waits.
func escaper(name string) config.ChildSpec {
	spec := helperSpec(name, "sleep")
	spec.Command = []string{"sh", "-c", `setsid sleep 600 & echo setsid $!; (sleep 600 & echo daemon $!); exec sleep 600`}
	spec.Env = nil
	return spec
}

// escapees waits for the PIDs escaper prints.
func escapees(t *testing.T, h *harness, name string) (setsid, daemon int) {
	t.Helper()
	for _, w := range []struct {
		tag string
		pid *int
	}{{"setsid", &setsid}, {"daemon", &daemon}} {
		line := h.out.waitLine(t, 30*time.Second, name+" | "+w.tag+" ")
		f := strings.Fields(line)
		*w.pid, _ = strconv.Atoi(f[len(f)-1])
	}
	return setsid, daemon
}

func cgroupConfig(t *testing.T, mode string, specs ...config.ChildSpec) *config.Config {
	return &config.Config{Path: "test.toml", Children: specs,
		Supervisor: config.Supervisor{HealthReader: "auto", Cgroup: mode, StateDir: t.TempDir()}}
}

// With a cgroup per child, a stop reaches every process of the tree: a
// setsid grandchild and a double-forked daemon die with the child, the
// child's cgroup is removed, and at shutdown resreap leaves its subtree
// and removes it.
func TestCgroupStopTakesTheWholeTree(t *testing.T) {
	cgrouptest.Need(t)
	home, _ := cgroup.ProcCgroup(os.Getpid())
	h := startConfig(t, cgroupConfig(t, config.CgroupAuto, escaper("tree")), Options{})
	setsid, daemon := escapees(t, h, "tree")
	h.waitState(t, "tree", Running, 30*time.Second)
	mode, subtree := h.sup.Ownership()
	if mode != OwnCgroup {
		t.Fatalf("ownership %s (%s), want cgroup", mode, subtree)
	}
	if cg, _ := cgroup.ProcCgroup(setsid); !strings.HasPrefix(cg, subtree+"/child-tree.") {
		t.Errorf("setsid grandchild in %q, want the child's leaf below %s", cg, subtree)
	}

	rep, err := h.sup.StopChild(context.Background(), "tree")
	if err != nil || rep.Err != nil {
		t.Fatalf("StopChild: %v %v", rep, err)
	}
	for _, pid := range []int{setsid, daemon} {
		if alive(pid) {
			t.Errorf("pid %d escaped the stop", pid)
		}
	}
	if leaves, _ := cgroupLeaves(t, subtree); len(leaves) != 0 {
		t.Errorf("leaves left after the stop: %+v", leaves)
	}
	h.stop()
	if now, _ := cgroup.ProcCgroup(os.Getpid()); now != home {
		t.Errorf("after shutdown resreap is in %s, want back in %s", now, home)
	}
	hi, _ := cgroup.Detect()
	if g, err := hi.Group(subtree); err == nil {
		if ok, _ := g.Exists(); ok {
			t.Errorf("subtree %s left after shutdown", subtree)
		}
	}
}

// What the main process leaves in its cgroup when it exits is killed
// before the next start, so a worker cannot keep the old generation's port;
// the exit record names them (pid, command, age), as an orphaned record
// names what a previous resreap left.
func TestCgroupExitKillsTheRest(t *testing.T) {
	cgrouptest.Need(t)
	spec := escaper("quitter")
	spec.Command = []string{"sh", "-c", `setsid sleep 600 & echo setsid $!; (sleep 600 & echo daemon $!); sleep 0.5; exit 3`}
	h := startConfig(t, cgroupConfig(t, config.CgroupAuto, spec), Options{})
	setsid, daemon := escapees(t, h, "quitter")
	h.hist.waitFor(t, 30*time.Second, "an exit", func(recs []history.Record) bool { return count(recs, "quitter", history.EventExit) > 0 })
	for _, pid := range []int{setsid, daemon} {
		waitGone(t, pid, 30*time.Second)
	}
	exit := h.hist.matching("quitter", history.EventExit)[0]
	left := map[int]history.Proc{}
	for _, p := range exit.Processes {
		left[p.PID] = p
	}
	for _, pid := range []int{setsid, daemon} {
		if p, ok := left[pid]; !ok || p.Command != "sleep 600" || p.Uptime <= 0 {
			t.Errorf("exit record lists %+v, want pid %d (sleep 600) with its age", exit.Processes, pid)
		}
	}
	if len(exit.Processes) != 2 || exit.Message != "killed 2 processes it left in its cgroup" {
		t.Errorf("exit record: %d processes, message %q", len(exit.Processes), exit.Message)
	}
}

// cgroup = "off" keeps process-group ownership: the group's signals reach
// the child, but a setsid grandchild escapes them (the documented limit
// that cgroups lift).
func TestCgroupOffUsesProcessGroups(t *testing.T) {
	h := startConfig(t, cgroupConfig(t, config.CgroupOff, escaper("grp")), Options{})
	setsid, daemon := escapees(t, h, "grp")
	t.Cleanup(func() {
		for _, pid := range []int{setsid, daemon} {
			syscallKill(pid)
		}
	})
	h.waitState(t, "grp", Running, 30*time.Second)
	if mode, why := h.sup.Ownership(); mode != OwnProcessGroup || !strings.Contains(why, "off") {
		t.Errorf("ownership %s (%s), want process group because of cgroup = off", mode, why)
	}
	if _, err := h.sup.StopChild(context.Background(), "grp"); err != nil {
		t.Fatal(err)
	}
	if !alive(setsid) {
		t.Error("the setsid grandchild died: process-group mode cannot reach it, so something else did")
	}
}

// A second resreap with the same state directory cannot take the subtree.
func TestCgroupOneInstancePerStateDir(t *testing.T) {
	cgrouptest.Need(t)
	cfg := cgroupConfig(t, config.CgroupAuto, helperSpec("a", "sleep"))
	h := startConfig(t, cfg, Options{})
	h.waitState(t, "a", Running, 30*time.Second)
	if _, err := newOwner(cfg.Supervisor, nil, h.sup.log); err == nil || !strings.Contains(err.Error(), "state_dir") {
		t.Errorf("second owner: %v, want a refusal naming the state_dir", err)
	}
}

func cgroupLeaves(t *testing.T, subtree string) ([]cgroup.Leaf, error) {
	t.Helper()
	h, err := cgroup.Detect()
	if err != nil {
		return nil, err
	}
	root, err := h.Group(subtree)
	if err != nil {
		return nil, err
	}
	return cgroup.SubtreeAt(root).Leaves()
}

// syscallKill kills pid, a test's leftover, if it still runs.
func syscallKill(pid int) {
	if alive(pid) {
		unix.Kill(pid, unix.SIGKILL) //nolint:errcheck // gone meanwhile
	}
}

// A child's cgroup figures are there, or status says why not: tasks
// always (pids.current, or cgroup.threads without the pids controller);
// memory where the memory controller can be had, and on a hybrid host,
// which binds it to cgroup v1, status names that mount.
func TestCgroupUsageOrWhyNot(t *testing.T) {
	cgrouptest.Need(t)
	h := startConfig(t, cgroupConfig(t, config.CgroupAuto, helperSpec("fig", "sleep")), Options{})
	h.waitState(t, "fig", Running, 30*time.Second)
	st := h.sup.Status()[0]
	if st.Usage == nil || !st.Usage.HasPids || st.Usage.PidsCurrent < 1 {
		t.Fatalf("usage %+v, want the child's tasks", st.Usage)
	}
	missing := h.sup.Info().CgroupMissing
	if st.Usage.HasMemory == strings.Contains(missing, "no memory figures") {
		t.Errorf("memory figures %v, and status says %q", st.Usage.HasMemory, missing)
	}
	v1, _ := cgroup.V1Mounts()
	if at := v1["memory"]; at != "" && !st.Usage.HasMemory && !strings.Contains(missing, "memory (at "+at+") bound to cgroup v1") {
		t.Errorf("memory is bound to cgroup v1 at %s, and status says %q", at, missing)
	}
	t.Logf("tasks %d (counted from cgroup.threads: %v), memory %v; missing: %q", st.Usage.PidsCurrent, st.Usage.PidsCounted, st.Usage.HasMemory, missing)
}
