//go:build linux

package cgroup

import (
	"errors"
	"os"
	"testing"
)

func TestHierarchyGroup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       Hierarchy
		path    string
		wantDir string
		wantErr bool
	}{
		{name: "pure v2", h: Hierarchy{Mount: "/sys/fs/cgroup", Root: "/"}, path: "/a/b", wantDir: "/sys/fs/cgroup/a/b"},
		{name: "hybrid root", h: Hierarchy{Mount: "/sys/fs/cgroup/unified", Root: "/"}, path: "/", wantDir: "/sys/fs/cgroup/unified"},
		{name: "unclean", h: Hierarchy{Mount: "/sys/fs/cgroup", Root: "/"}, path: "/a//b/../c/", wantDir: "/sys/fs/cgroup/a/c"},
		{name: "bind-mounted subtree", h: Hierarchy{Mount: "/sys/fs/cgroup", Root: "/docker/3f"}, path: "/docker/3f/x", wantDir: "/sys/fs/cgroup/x"},
		{name: "subtree root", h: Hierarchy{Mount: "/sys/fs/cgroup", Root: "/docker/3f"}, path: "/docker/3f", wantDir: "/sys/fs/cgroup"},
		{name: "outside subtree", h: Hierarchy{Mount: "/sys/fs/cgroup", Root: "/docker/3f"}, path: "/docker/3fx", wantErr: true},
		{name: "relative", h: Hierarchy{Mount: "/sys/fs/cgroup", Root: "/"}, path: "a", wantErr: true},
		{name: "zero", path: "/a", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := tc.h.Group(tc.path)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("have %v, want an error", g)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Dir() != tc.wantDir {
				t.Errorf("Dir() = %q, want %q", g.Dir(), tc.wantDir)
			}
		})
	}
}

func TestInTree(t *testing.T) {
	for _, tc := range []struct {
		p, root string
		want    bool
	}{
		{"/a", "/", true},
		{"/a", "/a", true},
		{"/a/b", "/a", true},
		{"/ab", "/a", false},
		{"/a (deleted)", "/a", false},
		{"/", "/a", false},
	} {
		if have := inTree(tc.p, tc.root); have != tc.want {
			t.Errorf("inTree(%q, %q) = %v, want %v", tc.p, tc.root, have, tc.want)
		}
	}
}

// TestDetect checks Detect against the running machine: its own cgroup is
// the directory its PID is listed in.
func TestDetect(t *testing.T) {
	h := needHierarchy(t)
	own, err := h.OwnGroup()
	if err != nil {
		t.Fatal(err)
	}
	pids, err := own.Procs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range pids {
		found = found || p == os.Getpid()
	}
	if !found {
		t.Errorf("own PID %d not in %s/cgroup.procs", os.Getpid(), own.Dir())
	}
	if err := (Hierarchy{}).CheckWritable(); !errors.Is(err, ErrNoHierarchy) {
		t.Errorf("zero Hierarchy: CheckWritable() = %v, want ErrNoHierarchy", err)
	}
}
