//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// SupervisorLeaf is the name of the leaf of a Subtree that the supervisor
// moves itself into.
const SupervisorLeaf = "supervisor"

// childLeafPrefix keeps child leaves apart from SupervisorLeaf and from
// the kernel's interface files, whatever the child is called ("supervisor",
// "cgroup.procs", "..": all valid child names).
const childLeafPrefix = "child-"

// ChildLeaf returns the name of the leaf cgroup of generation gen (>= 1)
// of the child called name: "child-<name>.<gen>". Each start of a child
// gets a fresh generation, so an old and a new generation can sit side by
// side, and a process is never placed by clone3 in a cgroup that was
// killed before: on some kernels (6.18 seen) CLONE_INTO_CGROUP into a
// cgroup that cgroup.kill was ever written to kills the new process at
// once. Every leaf name is made here and read back by Leaves.
func ChildLeaf(name string, gen int) string {
	return childLeafPrefix + name + "." + strconv.Itoa(gen)
}

// socketsSuffix ends the name of a child's sockets leaf (see
// SocketsLeaf); no generation is a word, so it is never a generation's.
const socketsSuffix = ".sockets"

// SocketsLeaf returns the name of the leaf of the child called name that
// holds nothing but the creator's mark of its listening sockets:
// "child-<name>.sockets". resreap binds them there (a short-lived helper),
// so that they and every connection accepted on them carry a cgroup id of
// the child's through all its generations.
func SocketsLeaf(name string) string { return childLeafPrefix + name + socketsSuffix }

// childOfLeaf is the inverse of ChildLeaf, and of SocketsLeaf with gen 0.
func childOfLeaf(leaf string) (name string, gen int, ok bool) {
	rest, ok := strings.CutPrefix(leaf, childLeafPrefix)
	if name, sockets := strings.CutSuffix(rest, socketsSuffix); ok && sockets && name != "" {
		return name, 0, true
	}
	i := strings.LastIndexByte(rest, '.')
	if !ok || i < 1 {
		return "", 0, false
	}
	gen, err := strconv.Atoi(rest[i+1:])
	if err != nil || gen < 1 || strconv.Itoa(gen) != rest[i+1:] {
		return "", 0, false
	}
	return rest[:i], gen, true
}

// Subtree is the cgroup layout of one supervisor instance, below the cgroup
// the supervisor was started in:
//
//	<own>/<instance>/                 inner node: no processes
//	<own>/<instance>/supervisor/      the supervisor itself (and what it forks)
//	<own>/<instance>/child-<name>/    one leaf per child, its whole process tree
//
// cgroup v2 keeps processes in leaves only once controllers are enabled
// for their children ("no internal processes"), so the supervisor leaves
// <instance> for its own leaf before anything is enabled there. The zero
// Subtree names none.
type Subtree struct {
	root Group
}

// Leaf is one child leaf found by Subtree.Leaves.
type Leaf struct {
	// Child is the child's name and Gen the generation, as given to
	// ChildLeaf; Gen is 0 for the child's sockets leaf (SocketsLeaf).
	Child string
	Gen   int
	// Group is the leaf cgroup.
	Group Group
	// Procs are the PIDs in the leaf and its descendants when listed.
	Procs []int
}

// NewSubtree names the subtree of instance below h.Own. A supervisor that
// is already in this instance's supervisor leaf (restarted in place by
// exec) gets the same subtree, not one nested inside its leaf. It creates
// nothing: see Create.
func NewSubtree(h Hierarchy, instance string) (Subtree, error) {
	own := h.Own
	if path.Base(own) == SupervisorLeaf && path.Base(path.Dir(own)) == instance {
		own = path.Dir(path.Dir(own))
	}
	base, err := h.Group(own)
	if err != nil {
		return Subtree{}, err
	}
	root, err := base.Child(instance)
	if err != nil {
		return Subtree{}, fmt.Errorf("cgroup subtree: %w", err)
	}
	return Subtree{root: root}, nil
}

// SubtreeAt is the subtree whose root is the cgroup root itself, for a
// configuration that names the cgroup to build in (say /resreap).
func SubtreeAt(root Group) Subtree { return Subtree{root: root} }

// Root returns the inner node <own>/<instance>.
func (s Subtree) Root() Group { return s.root }

// Supervisor returns the supervisor's leaf <own>/<instance>/supervisor.
func (s Subtree) Supervisor() Group {
	c, _ := s.root.Child(SupervisorLeaf) // a valid name: fails only for the zero Subtree
	return c
}

// Child returns the leaf of generation gen of the child called name (see
// ChildLeaf). It does not create it.
func (s Subtree) Child(name string, gen int) (Group, error) {
	if name == "" || gen < 1 {
		return Group{}, fmt.Errorf("child leaf %q generation %d: want a name and a generation >= 1", name, gen)
	}
	return s.root.Child(ChildLeaf(name, gen))
}

// Sockets returns the sockets leaf of the child called name (see
// SocketsLeaf). It does not create it.
func (s Subtree) Sockets(name string) (Group, error) {
	if name == "" {
		return Group{}, fmt.Errorf("sockets leaf: want a child's name")
	}
	return s.root.Child(SocketsLeaf(name))
}

// Create makes the subtree's root and supervisor leaf; existing ones are
// fine. Move the supervisor in with s.Supervisor().AddProc(os.Getpid()).
func (s Subtree) Create() error {
	if err := s.root.Create(); err != nil {
		return err
	}
	return s.Supervisor().Create()
}

// Leaves lists the child leaves that exist in the subtree, in order of leaf
// name, each with the processes in it. A supervisor starting after a crash
// of the previous one uses it to find the generation left running; empty
// leaves are listed too, to be removed. Other directories are ignored. A
// subtree that does not exist has no leaves.
func (s Subtree) Leaves() ([]Leaf, error) {
	if err := s.root.valid(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.root.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup leaves: %w", err)
	}
	var out []Leaf
	for _, e := range ents {
		name, gen, ok := childOfLeaf(e.Name())
		if !e.IsDir() || !ok {
			continue
		}
		g := Group{dir: filepath.Join(s.root.dir, e.Name()), path: path.Join(s.root.path, e.Name())}
		pids, err := g.treeProcs()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("cgroup leaves: %w", err)
		}
		out = append(out, Leaf{Child: name, Gen: gen, Group: g, Procs: pids})
	}
	return out, nil
}
