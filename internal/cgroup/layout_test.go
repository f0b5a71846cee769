//go:build linux

package cgroup

import (
	"os"
	"slices"
	"testing"
)

func TestChildLeaf(t *testing.T) {
	for _, name := range []string{"fe-server", "supervisor", "cgroup.procs", "..", "a:b", "v1.2", "x.3"} {
		for _, gen := range []int{1, 12} {
			leaf := ChildLeaf(name, gen)
			if leaf == SupervisorLeaf {
				t.Errorf("ChildLeaf(%q) is the supervisor leaf", name)
			}
			if back, g, ok := childOfLeaf(leaf); !ok || back != name || g != gen {
				t.Errorf("childOfLeaf(ChildLeaf(%q, %d)) = %q, %d, %v", name, gen, back, g, ok)
			}
		}
	}
	// A child's sockets leaf is its leaf of generation 0, whatever its
	// name (one called "a.sockets" too).
	for _, name := range []string{"fe", "a.sockets", "x.3"} {
		if back, g, ok := childOfLeaf(SocketsLeaf(name)); !ok || back != name || g != 0 {
			t.Errorf("childOfLeaf(SocketsLeaf(%q)) = %q, %d, %v", name, back, g, ok)
		}
	}
	for _, leaf := range []string{SupervisorLeaf, "child-", "child-.sockets", "child-.1", "child-a", "child-a.", "child-a.0", "child-a.01", "child-a.x", "other"} {
		if name, gen, ok := childOfLeaf(leaf); ok {
			t.Errorf("childOfLeaf(%q) = %q, %d, want no child", leaf, name, gen)
		}
	}
}

func TestNewSubtree(t *testing.T) {
	for _, tc := range []struct {
		own, want string
	}{
		{"/system.slice/resreap.service", "/system.slice/resreap.service/resreap"},
		{"/", "/resreap"},
		// Restarted in place: already in the supervisor leaf.
		{"/system.slice/resreap.service/resreap/supervisor", "/system.slice/resreap.service/resreap"},
		// Some other instance's leaf is just a cgroup to nest below.
		{"/x/other/supervisor", "/x/other/supervisor/resreap"},
	} {
		h := Hierarchy{Mount: "/sys/fs/cgroup", Root: "/", Own: tc.own}
		s, err := NewSubtree(h, "resreap")
		if err != nil {
			t.Fatal(err)
		}
		if s.Root().Path() != tc.want {
			t.Errorf("own %s: Root() = %s, want %s", tc.own, s.Root().Path(), tc.want)
		}
		if s.Supervisor().Path() != tc.want+"/supervisor" {
			t.Errorf("own %s: Supervisor() = %s", tc.own, s.Supervisor().Path())
		}
	}
	h := Hierarchy{Mount: "/sys/fs/cgroup", Root: "/", Own: "/"}
	for _, bad := range []string{"", "a/b", ".."} {
		if _, err := NewSubtree(h, bad); err == nil {
			t.Errorf("NewSubtree(%q): no error", bad)
		}
	}
}

// TestSubtreeLeaves builds a subtree below a test cgroup, leaves a process
// in one child leaf and lists the leaves as a supervisor recovering from a
// crash would.
func TestSubtreeLeaves(t *testing.T) {
	g := newTestGroup(t)
	h := needHierarchy(t)
	h.Own = g.Path()
	s, err := NewSubtree(h, "inst")
	if err != nil {
		t.Fatal(err)
	}
	if leaves, err := s.Leaves(); err != nil || len(leaves) != 0 {
		t.Fatalf("Leaves() before Create = %v, %v", leaves, err)
	}
	if err := s.Create(); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Supervisor().Exists(); !ok || err != nil {
		t.Fatalf("supervisor leaf: %v, %v", ok, err)
	}
	// A stand-in for the supervisor moving itself into its leaf.
	sup := startOutside(t, "sleep", "600")
	if err := s.Supervisor().AddProc(sup.Process.Pid); err != nil {
		t.Fatal(err)
	}
	var fe, idle Group
	for name, dst := range map[string]*Group{"fe": &fe, "idle": &idle} {
		if *dst, err = s.Child(name, 1); err != nil {
			t.Fatal(err)
		}
		if err := dst.Create(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(s.Root().file("not-a-child"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := startIn(t, fe, "sleep", "600")

	leaves, err := s.Leaves()
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) != 2 || leaves[0].Child != "fe" || leaves[1].Child != "idle" {
		t.Fatalf("Leaves() = %+v, want fe and idle", leaves)
	}
	if leaves[0].Group != fe || !slices.Equal(leaves[0].Procs, []int{cmd.Process.Pid}) {
		t.Errorf("fe leaf = %+v, want %s with [%d]", leaves[0], fe, cmd.Process.Pid)
	}
	if len(leaves[1].Procs) != 0 {
		t.Errorf("idle leaf = %+v, want no processes", leaves[1])
	}
	if _, err := s.Child("", 1); err == nil {
		t.Error("Child(\"\", 1): no error")
	}
	if _, err := s.Child("fe", 0); err == nil {
		t.Error("Child(\"fe\", 0): no error")
	}
}
