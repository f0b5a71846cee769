//go:build linux

package cgroup

import (
	"slices"
	"testing"
)

func TestProcsPopulated(t *testing.T) {
	g := newTestGroup(t)
	if pids, err := g.Procs(); err != nil || len(pids) != 0 {
		t.Fatalf("empty cgroup: Procs() = %v, %v", pids, err)
	}
	if pop, err := g.Populated(); err != nil || pop {
		t.Fatalf("empty cgroup: Populated() = %v, %v", pop, err)
	}
	cmd := startIn(t, g, "sleep", "600")
	if pids, err := g.Procs(); err != nil || !slices.Equal(pids, []int{cmd.Process.Pid}) {
		t.Errorf("Procs() = %v, %v; want [%d]", pids, err, cmd.Process.Pid)
	}
	if pop, err := g.Populated(); err != nil || !pop {
		t.Errorf("Populated() = %v, %v with a sleep inside", pop, err)
	}
	// A process in a child cgroup populates the parent, but is not in its
	// cgroup.procs.
	c, _ := g.Child("c")
	if err := c.Create(); err != nil {
		t.Fatal(err)
	}
	reap(cmd)
	inner := startIn(t, c, "sleep", "600")
	if pids, err := g.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("parent Procs() = %v, %v; want none", pids, err)
	}
	if pop, err := g.Populated(); err != nil || !pop {
		t.Errorf("parent Populated() = %v, %v with a sleep in a child cgroup", pop, err)
	}
	if pids, err := g.treeProcs(); err != nil || !slices.Equal(pids, []int{inner.Process.Pid}) {
		t.Errorf("treeProcs() = %v, %v; want [%d]", pids, err, inner.Process.Pid)
	}
}

// TestAddProc moves a running process in, as the supervisor moves itself
// into its leaf.
func TestAddProc(t *testing.T) {
	g := newTestGroup(t)
	cmd := startOutside(t, "sleep", "600")
	pid := cmd.Process.Pid
	if err := g.AddProc(pid); err != nil {
		t.Fatal(err)
	}
	if p, err := ProcCgroup(pid); err != nil || p != g.Path() {
		t.Errorf("after AddProc: ProcCgroup = %q, %v; want %q", p, err, g.Path())
	}
	if err := g.AddProc(1 << 30); err == nil {
		t.Error("AddProc of a PID that does not exist: no error")
	}
}

// TestZombieNotPopulated pins down the kernel behaviour the supervisor
// relies on: an exited process leaves its cgroup before it is reaped, so
// "populated 0" does not wait for the parent's wait4, and the cgroup can
// be removed while the zombie is still there.
func TestZombieNotPopulated(t *testing.T) {
	g := newTestGroup(t)
	cmd := commandIn(t, g, "true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { reap(cmd) })
	waitFor(t, "the child to be a zombie", func() (bool, error) { return procState(pid) == 'Z', nil })
	if pop, err := g.Populated(); err != nil || pop {
		t.Errorf("Populated() = %v, %v with only an unreaped zombie", pop, err)
	}
	if pids, err := g.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("Procs() = %v, %v with only an unreaped zombie", pids, err)
	}
	if err := g.Remove(); err != nil {
		t.Errorf("Remove with an unreaped zombie: %v", err)
	}
	if p, err := ProcCgroup(pid); err == nil {
		t.Logf("zombie's /proc/%d/cgroup after rmdir: %q", pid, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("wait: %v", err)
	}
}
