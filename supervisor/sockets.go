//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
)

// heldSockets are the listening sockets resreap holds for a child
// (listen): bound at its first start, passed to every generation, kept
// through stops, backoff and Fatal, closed when a reload removes them or
// the child goes (shutdown, a reload that drops it). While resreap holds
// them, a connection that comes between two generations waits in the
// backlog instead of being refused.
//
// With cgroups they are bound in the child's sockets leaf (see
// cgroup.SocketsLeaf) by a helper placed there (proc.Reaper.Bind), so
// that every connection accepted on them carries a cgroup id of the
// child's, whichever generation accepts it: the health loop gives that
// id to the child (see healthIDs). Without cgroups resreap binds them
// itself.
type heldSockets struct {
	specs []config.ListenSpec
	files []*os.File // one per spec, in order
	leaf  cgroup.Group
}

// sockets returns the child's listening sockets for a start, binding
// what is not held yet: everything at the first start; after a reload
// that changed listen, the sockets whose address changed or is new (one
// whose address stayed is kept, its backlog set again with listen(2), so
// that its queue of waiting connections is not lost), and those no
// longer listed are closed (a generation still running keeps its
// copies until it is stopped). A child without listen holds nothing.
func (c *child) sockets() ([]*os.File, error) {
	want := c.spec.Listen
	if c.socks != nil && slices.Equal(c.socks.specs, want) {
		return c.socks.files, nil
	}
	if len(want) == 0 {
		c.closeSockets()
		return nil, nil
	}
	leaf, err := c.sup.own.socketsLeaf(c.name)
	if err != nil {
		return nil, &proc.SpawnError{What: "cgroup", Path: leaf.Path(), Err: err}
	}
	held := &heldSockets{specs: want, files: make([]*os.File, len(want)), leaf: leaf}
	var fresh []proc.Socket
	var at []int
	for i, l := range want {
		if f := c.socks.take(l); f != nil {
			if err := unix.Listen(int(f.Fd()), l.Backlog); err != nil {
				c.log.Warn().Err(err).Str("listen", l.Address).Msg("cannot set the backlog of a held socket")
			}
			held.files[i] = f
			continue
		}
		fresh = append(fresh, procSocket(l))
		at = append(at, i)
	}
	files, err := c.sup.reaper.Bind(leaf, fresh)
	if err != nil {
		// What was taken from the old set goes back to it.
		for i, f := range held.files {
			if f != nil {
				c.socks.put(want[i], f)
			}
		}
		return nil, err
	}
	for k, f := range files {
		held.files[at[k]] = f
	}
	c.closeSockets() // what is left of the old set: listeners no longer listed
	c.socks = held
	if leaf != (cgroup.Group{}) {
		id, err := leaf.ID()
		if err != nil {
			c.log.Warn().Err(err).Str("cgroup", leaf.Path()).Msg("sockets leaf's id unreadable: connections on the listening sockets will be found by fd walks")
		}
		c.gensMu.Lock()
		c.socketsID = id
		c.gensMu.Unlock()
	}
	c.log.Info().Strs("listen", addresses(want)).Int("bound", len(fresh)).Str("cgroup", leaf.Path()).Msg("holding the listening sockets")
	return held.files, nil
}

// take removes from h, and returns, the held socket with l's address;
// nil when there is none (or no h).
func (h *heldSockets) take(l config.ListenSpec) *os.File {
	if h == nil {
		return nil
	}
	for i, s := range h.specs {
		if s.Address == l.Address && h.files[i] != nil {
			f := h.files[i]
			h.files[i] = nil
			return f
		}
	}
	return nil
}

// put gives f, taken for l, back to h.
func (h *heldSockets) put(l config.ListenSpec, f *os.File) {
	for i, s := range h.specs {
		if s.Address == l.Address && h.files[i] == nil {
			h.files[i] = f
			return
		}
	}
	f.Close()
}

// closeSockets closes the sockets resreap holds for the child and
// removes the files of its unix sockets; its sockets leaf stays until
// the subtree goes (owner.close).
func (c *child) closeSockets() {
	h := c.socks
	c.socks = nil
	if h == nil {
		return
	}
	c.gensMu.Lock()
	c.socketsID = 0
	c.gensMu.Unlock()
	for i, f := range h.files {
		if f == nil {
			continue
		}
		f.Close()
		if path, ok := h.specs[i].Unix(); ok {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				c.log.Warn().Err(err).Str("path", path).Msg("cannot remove a unix socket's file")
			}
		}
	}
	c.log.Info().Strs("listen", addresses(h.specs)).Msg("closed the listening sockets")
}

// procSocket is l as proc binds it.
func procSocket(l config.ListenSpec) proc.Socket {
	if path, ok := l.Unix(); ok {
		return proc.Socket{Unix: true, Address: path, Backlog: l.Backlog}
	}
	return proc.Socket{Address: l.Address, Backlog: l.Backlog}
}

func addresses(ls []config.ListenSpec) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Address
	}
	return out
}

// activate adds to cmd what a generation of the child gets besides its
// command: the held sockets, as fds 3... with systemd's variables
// (LISTEN_FDS, LISTEN_FDNAMES, and LISTEN_PID set by the exec shim) or
// nginx's (NGINX="3;4;"); the notify socket (NOTIFY_SOCKET) for READY=1
// and MAINPID=; and the number of its generation.
func (c *child) activate(cmd *proc.Command, files []*os.File, gen int) {
	env := []string{config.GenerationVar + "=" + strconv.Itoa(gen)}
	if len(files) > 0 {
		cmd.ExtraFiles = files
		switch c.spec.Pass {
		case config.PassNginx:
			var b strings.Builder
			for i := range files {
				fmt.Fprintf(&b, "%d;", 3+i)
			}
			env = append(env, "NGINX="+b.String())
		default:
			names := make([]string, len(c.spec.Listen))
			for i, l := range c.spec.Listen {
				names[i] = l.Name
			}
			env = append(env, "LISTEN_FDS="+strconv.Itoa(len(files)), "LISTEN_FDNAMES="+strings.Join(names, ":"))
			cmd.ListenPID = true
		}
	}
	if addr := c.sup.notify.address(); addr != "" && c.wantsNotify() {
		env = append(env, "NOTIFY_SOCKET="+addr)
	}
	// A successor it may hand over to is forked into its process group:
	// what is left at its exit is killed by the child (killRemains),
	// unless it was handed over to.
	cmd.KeepGroup = c.wantsNotify() || c.spec.PidFile != ""
	cmd.ExtraEnv = append(cmd.ExtraEnv, env...)
}

// wantsNotify reports whether the child is given a notify socket: it
// waits for READY=1, or holds sockets or surges (and so may hand over to
// a successor with MAINPID=, or tell STATUS=).
func (c *child) wantsNotify() bool {
	return c.spec.Ready.Notify || len(c.spec.Listen) > 0 || c.spec.Surge()
}

// socketsLeaf makes (or finds) the sockets leaf of the child called name;
// the zero Group in process-group mode.
func (o *owner) socketsLeaf(name string) (cgroup.Group, error) {
	if !o.cgroups() {
		return cgroup.Group{}, nil
	}
	g, err := o.sub.Sockets(name)
	if err != nil {
		return g, err
	}
	return g, g.Create()
}

// lastGen is the generation of the child's newest leaf (0 without
// cgroups).
func (o *owner) lastGen(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gens[name]
}

// noteSocketsLeaf records the sockets leaf of a child that a previous
// resreap left: its sockets died with that resreap (only it held them
// once the generation was stopped), and the child's first start binds
// them again. Processes found in it (a bind helper) are stopped and
// recorded like those of a generation.
func (s *Supervisor) noteSocketsLeaf(child string, l cgroup.Leaf) {
	s.record(s.log.Warn().Str("child", child), history.Record{Child: child, Event: history.EventOrphaned, Reason: history.ReasonRecovery,
		Message: "the sockets leaf " + l.Group.Path() + " of a previous resreap: its listening sockets closed with it; bound again at the first start"})
}
