//go:build linux

package cgroup

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoHierarchy reports that there is no cgroup2 hierarchy to use: none is
// mounted (a pure cgroup v1 host), or /proc/<pid>/cgroup has no "0::" line.
var ErrNoHierarchy = errors.New("no cgroup2 hierarchy")

// Hierarchy is the cgroup2 hierarchy as the calling process sees it. The
// zero Hierarchy names none: its methods return errors wrapping
// ErrNoHierarchy.
type Hierarchy struct {
	// Mount is where the hierarchy is mounted: /sys/fs/cgroup on a pure v2
	// host, /sys/fs/cgroup/unified on a hybrid one.
	Mount string
	// Root is the cgroup path shown at Mount: "/" unless a subtree is
	// bind-mounted there (a container sharing the host's cgroup namespace).
	Root string
	// Own is the calling process's cgroup path from /proc/self/cgroup, e.g.
	// "/" or "/system.slice/resreap.service".
	Own string
	// Writable is CheckWritable() == nil at the time of Detect;
	// NotWritable is what CheckWritable said otherwise.
	Writable    bool
	NotWritable error
}

// Detect finds the cgroup2 mount in /proc/self/mountinfo (the first mount
// of type "cgroup2") and the calling process's cgroup in /proc/self/cgroup,
// and probes whether the process may create cgroups below its own (see
// CheckWritable). An unwritable hierarchy is not an error: Writable says so.
func Detect() (Hierarchy, error) {
	m, err := readMount("/proc/self/mountinfo")
	if err != nil {
		return Hierarchy{}, err
	}
	own, err := selfCgroup()
	if err != nil {
		return Hierarchy{}, err
	}
	h := Hierarchy{Mount: m.point, Root: m.root, Own: own}
	if _, err := h.OwnGroup(); err != nil {
		return Hierarchy{}, err
	}
	h.NotWritable = h.CheckWritable()
	h.Writable = h.NotWritable == nil
	return h, nil
}

// Group returns the cgroup at cgroup path p ("/a/b", as /proc/<pid>/cgroup
// names it). It does not create it. A path outside the part of the
// hierarchy visible at Mount is an error.
func (h Hierarchy) Group(p string) (Group, error) {
	if h.Mount == "" {
		return Group{}, fmt.Errorf("zero Hierarchy: %w", ErrNoHierarchy)
	}
	if !path.IsAbs(p) {
		return Group{}, fmt.Errorf("cgroup path %q is not absolute", p)
	}
	p = path.Clean(p)
	root := path.Clean("/" + h.Root)
	if !inTree(p, root) {
		return Group{}, fmt.Errorf("cgroup %s is not visible at %s (which shows %s): %w", p, h.Mount, root, ErrNoHierarchy)
	}
	rel := strings.TrimPrefix(p, root)
	return Group{dir: filepath.Join(h.Mount, rel), path: p}, nil
}

// OwnGroup returns the calling process's cgroup at the time of Detect.
func (h Hierarchy) OwnGroup() (Group, error) { return h.Group(h.Own) }

// CheckWritable reports why the calling process could not build cgroups
// below its own, or nil if it can. It creates and removes a probe cgroup
// ("resreap-probe-<pid>-<random>") and checks write access to the own
// cgroup's cgroup.procs with access(2).
//
// A probe rather than access(W_OK) on the directory alone, because access
// only sees permission bits and read-only mounts, while mkdir in a cgroup
// can also fail on cgroup.max.descendants or cgroup.max.depth, or on an
// LSM policy; the probe asks the kernel the real question. The cgroup.procs
// check is needed as well: placing a child with CLONE_INTO_CGROUP (or
// moving a process) needs write access to cgroup.procs of the common
// ancestor, which is the own cgroup, and a probe directory says nothing
// about that.
func (h Hierarchy) CheckWritable() error {
	g, err := h.OwnGroup()
	if err != nil {
		return err
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	probe, err := g.Child(fmt.Sprintf("resreap-probe-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:])))
	if err != nil {
		return err
	}
	if err := os.Mkdir(probe.dir, 0o755); err != nil {
		return fmt.Errorf("cannot create cgroups in %s: %w", g.dir, err)
	}
	if err := unix.Rmdir(probe.dir); err != nil {
		return fmt.Errorf("cannot remove probe cgroup %s: %w", probe.dir, err)
	}
	procs := filepath.Join(g.dir, "cgroup.procs")
	if err := unix.Access(procs, unix.W_OK); err != nil {
		return fmt.Errorf("cannot place processes below %s: %w", g.dir, &os.PathError{Op: "access", Path: procs, Err: err})
	}
	return nil
}

// inTree reports whether cgroup path p is root or a descendant of it.
func inTree(p, root string) bool {
	return root == "/" || p == root || strings.HasPrefix(p, root+"/")
}
