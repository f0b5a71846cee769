//go:build linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotEmpty reports that a cgroup could not be removed because it still
// holds processes or child cgroups (rmdir gave EBUSY).
var ErrNotEmpty = errors.New("cgroup still holds processes or child cgroups")

// errZeroGroup is returned by every method of the zero Group.
var errZeroGroup = errors.New("zero cgroup.Group")

// Group names one cgroup: a directory of the cgroup2 hierarchy. It is a
// small value, safe to copy and to use from several goroutines; it holds no
// file descriptor and does not imply that the directory exists (Create
// makes it). Get one from Hierarchy.Group, Hierarchy.OwnGroup, Group.Child
// or a Subtree. The zero Group names no cgroup: its methods return errors.
type Group struct {
	dir  string // directory in the mounted hierarchy
	path string // cgroup path as /proc/<pid>/cgroup names it
}

// Dir returns the cgroup's directory, e.g. /sys/fs/cgroup/unified/a/b.
func (g Group) Dir() string { return g.dir }

// Path returns the cgroup path as /proc/<pid>/cgroup names it, e.g. /a/b.
func (g Group) Path() string { return g.path }

// String returns Dir, for logs.
func (g Group) String() string { return g.dir }

// Child returns the cgroup called name below g. The name must be one path
// element: not empty, ".", "..", nor containing '/' or a newline (which
// the kernel refuses). It does not create it.
func (g Group) Child(name string) (Group, error) {
	if err := g.valid(); err != nil {
		return Group{}, err
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\n\x00") || len(name) > 255 {
		return Group{}, fmt.Errorf("invalid cgroup name %q", name)
	}
	return Group{dir: filepath.Join(g.dir, name), path: path.Join(g.path, name)}, nil
}

// Create makes the cgroup directory (mode 0755; its parent must exist). An
// existing cgroup is fine.
func (g Group) Create() error {
	if err := g.valid(); err != nil {
		return err
	}
	err := os.Mkdir(g.dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		// An interface file of the parent ("cgroup.procs") exists too, but
		// is no cgroup.
		if st, serr := os.Stat(g.dir); serr == nil && st.IsDir() {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	return nil
}

// Remove removes the (empty) cgroup directory. A missing cgroup is fine.
// A cgroup that still holds live processes or child cgroups cannot be
// removed: the error wraps both ErrNotEmpty and unix.EBUSY. Zombies do not
// count: the kernel takes an exited process out of its cgroup before its
// parent reaps it.
func (g Group) Remove() error {
	if err := g.valid(); err != nil {
		return err
	}
	err := unix.Rmdir(g.dir)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("remove cgroup %s: %w (%w)", g.dir, ErrNotEmpty, &os.PathError{Op: "rmdir", Path: g.dir, Err: err})
	default:
		return fmt.Errorf("remove cgroup: %w", &os.PathError{Op: "rmdir", Path: g.dir, Err: err})
	}
}

// removeEvery is how often RemoveWait tries a busy rmdir again.
const removeEvery = 20 * time.Millisecond

// RemoveWait is Remove tried again every 20 ms while the cgroup is busy,
// until it is removed or ctx is done; then it returns Remove's last error.
// It is for a cgroup whose processes are known to be gone: "populated 0"
// can come before the kernel is done with the last exiting task (and a
// process that moved out is not out until its dying threads are), and
// until then rmdir answers EBUSY. An error other than busy returns at once.
func (g Group) RemoveWait(ctx context.Context) error {
	for {
		err := g.Remove()
		if !errors.Is(err, ErrNotEmpty) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(removeEvery):
		}
	}
}

// Exists reports whether the cgroup directory exists.
func (g Group) Exists() (bool, error) {
	if err := g.valid(); err != nil {
		return false, err
	}
	st, err := os.Stat(g.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.IsDir(), nil
}

func (g Group) valid() error {
	if g.dir == "" {
		return errZeroGroup
	}
	return nil
}

// file returns the path of one of the cgroup's interface files.
func (g Group) file(name string) string { return filepath.Join(g.dir, name) }
