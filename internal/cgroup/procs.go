//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Procs returns the PIDs (thread group ids) of the processes in the cgroup
// itself, not in its descendants, in no particular order. A PID is only a
// snapshot: the process may exit, and its PID be reused, at any time.
func (g Group) Procs() ([]int, error) {
	if err := g.valid(); err != nil {
		return nil, err
	}
	return readProcs(g.file("cgroup.procs"))
}

func readProcs(file string) ([]int, error) {
	data, err := readFile(file)
	if err != nil {
		return nil, fmt.Errorf("cgroup procs: %w", err)
	}
	pids, err := parsePIDs(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return pids, nil
}

// treeProcs returns the PIDs in the cgroup and in all its descendants.
// Cgroups removed during the walk are skipped: they were empty. A cgroup
// without descendants, as a child's leaf usually is, is read without
// listing its directory of thirty-odd files: kernfs gives a directory two
// links plus one per subdirectory, so one stat tells (a count under two
// says nothing, and the tree is walked).
func (g Group) treeProcs() ([]int, error) {
	var st unix.Stat_t
	if err := unix.Stat(g.dir, &st); err == nil && st.Nlink == 2 {
		return readProcs(g.file("cgroup.procs"))
	}
	var all []int
	err := g.eachTreeFile("cgroup.procs", func(path string) error {
		pids, err := readProcs(path)
		all = append(all, pids...)
		return err
	})
	return all, err
}

// eachTreeFile calls read with the path of file in the cgroup and in each
// of its descendants. A cgroup removed during the walk (its directory or
// file gone: read returned an error that is fs.ErrNotExist) is skipped,
// the cgroup itself excepted.
func (g Group) eachTreeFile(file string, read func(path string) error) error {
	return filepath.WalkDir(g.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != g.dir {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		err = read(filepath.Join(p, file))
		if errors.Is(err, fs.ErrNotExist) && p != g.dir {
			return nil
		}
		return err
	})
}

// AddProc moves process pid (all its threads) into the cgroup by writing
// cgroup.procs. The supervisor uses it to move itself into its leaf;
// children are better placed at fork with OpenFD. cgroup v2 refuses it
// (EBUSY) for a cgroup that has controllers enabled in its
// cgroup.subtree_control: processes live only in leaves.
func (g Group) AddProc(pid int) error {
	if err := g.valid(); err != nil {
		return err
	}
	err := writeFile(g.file("cgroup.procs"), strconv.Itoa(pid))
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("move process %d into %s: the cgroup has controllers enabled for its children, so it may hold no process: %w", pid, g.dir, err)
	}
	if err != nil {
		return fmt.Errorf("move process %d into cgroup: %w", pid, err)
	}
	return nil
}

// Populated reports whether the cgroup or any of its descendants holds a
// live process ("populated" in cgroup.events). Zombies do not count: a
// process leaves its cgroup when it exits, before it is reaped.
func (g Group) Populated() (bool, error) {
	ev, err := g.events()
	if err != nil {
		return false, err
	}
	return ev["populated"] != 0, nil
}

// events reads cgroup.events (absent in the root cgroup).
func (g Group) events() (map[string]uint64, error) {
	if err := g.valid(); err != nil {
		return nil, err
	}
	ev, err := readKeyValues(g.file("cgroup.events"))
	if err != nil {
		return nil, fmt.Errorf("cgroup events: %w", err)
	}
	if _, ok := ev["populated"]; !ok {
		return nil, fmt.Errorf("cgroup events: no \"populated\" key in %s", g.file("cgroup.events"))
	}
	return ev, nil
}
