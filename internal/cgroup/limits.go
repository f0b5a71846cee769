//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ErrNoController reports that a controller is not available to a cgroup:
// the kernel lacks it, it is bound to a cgroup v1 hierarchy (a hybrid
// host), or the parent's cgroup.subtree_control does not enable it.
var ErrNoController = errors.New("controller not available")

// Controllers returns the controllers available to the cgroup
// (cgroup.controllers): those its parent enables for it, which are the
// ones its interface files (memory.max, pids.max, ...) exist for, and the
// ones it may enable for its own children.
func (g Group) Controllers() ([]string, error) {
	if err := g.valid(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(g.file("cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("cgroup controllers: %w", err)
	}
	return strings.Fields(string(data)), nil
}

// EnableControllers enables the named controllers ("memory", "pids") for
// the cgroup's children by writing cgroup.subtree_control. Each must be in
// Controllers; a missing one gives an error naming it and wrapping
// ErrNoController. cgroup v2 refuses this (EBUSY) while the cgroup itself
// holds processes: enable controllers on an inner node, such as a
// Subtree's root, after the supervisor has moved into its leaf.
func (g Group) EnableControllers(names ...string) error {
	have, err := g.Controllers()
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, n := range names {
		if !slices.Contains(have, n) {
			return g.noController(n, have)
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("+" + n)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := writeFile(g.file("cgroup.subtree_control"), b.String()); err != nil {
		return fmt.Errorf("enable controllers %s: %w", strings.Join(names, " "), err)
	}
	return nil
}

// SetMemoryMax sets memory.max, the hard memory limit of the cgroup tree,
// in bytes; a negative value removes the limit ("max"). It needs the
// memory controller (see EnableControllers); without it the error names
// it and wraps ErrNoController.
func (g Group) SetMemoryMax(bytes int64) error { return g.setMax("memory", "memory.max", bytes) }

// SetPidsMax sets pids.max, the most tasks (threads included) the cgroup
// tree may hold; a negative value removes the limit ("max"). It needs the
// pids controller; without it the error names it and wraps
// ErrNoController.
func (g Group) SetPidsMax(n int64) error { return g.setMax("pids", "pids.max", n) }

func (g Group) setMax(controller, file string, v int64) error {
	if err := g.valid(); err != nil {
		return err
	}
	val := "max"
	if v >= 0 {
		val = strconv.FormatInt(v, 10)
	}
	err := writeFile(g.file(file), val)
	if errors.Is(err, fs.ErrNotExist) {
		have, cerr := g.Controllers()
		if cerr != nil {
			return cerr
		}
		return g.noController(controller, have)
	}
	if err != nil {
		return fmt.Errorf("set %s: %w", file, err)
	}
	return nil
}

// noController builds the error for a controller missing from have, e.g.
// "memory controller not available in /sys/fs/cgroup/unified/x
// (cgroup.controllers: hugetlb)".
func (g Group) noController(name string, have []string) error {
	list := strings.Join(have, " ")
	if list == "" {
		list = "none"
	}
	return fmt.Errorf("%s %w in %s (cgroup.controllers: %s)", name, ErrNoController, g.dir, list)
}
