//go:build linux

package watch

import (
	"slices"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/procfile"
)

// cgroups finds the cgroup of a candidate that is alone in it. Every
// systemd service runs in a cgroup of its own, and a single-process
// service is alone there: the kernel then says with each socket whose it
// is (its cgroup id), and the Scanner gives the candidate its CLOSE_WAIT
// sockets without reading its fd table, however many fds it holds. Its
// fd table is still read for a persistent socket of another cgroup that
// no candidate's id claims (health.Target.CgroupOnly stays false): it may
// hold one, as a socket-activated service does.
//
// A candidate that shares its cgroup (a pre-fork server and its workers,
// a shell and its pipeline, anything in the root cgroup) is judged alone,
// as before, by walking its fd table: the cgroup id cannot tell its
// sockets from its neighbours'.
//
// Each cgroup's cgroup.procs is read once per tick, however many
// candidates it holds: the root cgroup of a host where nothing else uses
// cgroups may hold every process.
type cgroups struct {
	h     cgroup.Hierarchy // zero: no cgroup2 hierarchy to read
	files *procFiles       // reads /proc/<pid>/cgroup
	// groups are the cgroups looked at during this tick, by path.
	groups map[string]aloneIn
	pids   []int  // cgroup.procs, reused
	buf    []byte // reads cgroup.procs
}

// aloneIn is one cgroup as a tick saw it: the only process in it (0 when
// it holds several, or none, or could not be read), and its id and
// directory.
type aloneIn struct {
	pid int
	id  uint64
	dir string
}

// newCgroups detects the cgroup2 hierarchy when procRoot is the real
// /proc (a candidate's cgroup is read from /proc/<pid>/cgroup); otherwise,
// without a hierarchy, or when sockets do not carry their creator's cgroup
// id (cgroup.SocketIDs), every candidate is judged by fd walk.
func newCgroups(procRoot string, files *procFiles) *cgroups {
	if procRoot != "/proc" {
		return &cgroups{}
	}
	h, err := cgroup.Detect()
	if ok, _ := cgroup.SocketIDs(); err != nil || !ok {
		return &cgroups{}
	}
	return &cgroups{h: h, files: files, groups: map[string]aloneIn{}, buf: make([]byte, 4096)}
}

// newTick forgets the cgroups read at the last tick: processes come and
// go between ticks.
func (c *cgroups) newTick() { clear(c.groups) }

// alone returns the cgroup of pid (its id and directory) when pid is the
// only process in it; ok is false otherwise, or when it cannot be told.
func (c *cgroups) alone(pid int) (id uint64, dir string, ok bool) {
	if c.h.Mount == "" {
		return 0, "", false
	}
	b, err := c.files.read(pid, "cgroup")
	if err != nil {
		return 0, "", false
	}
	p, err := cgroup.ParseProcCgroup(b)
	if err != nil {
		return 0, "", false
	}
	in, seen := c.groups[p]
	if !seen {
		in = c.look(p)
		c.groups[p] = in
	}
	if in.pid != pid {
		return 0, "", false
	}
	return in.id, in.dir, true
}

// look reads the cgroup at path p: its only process, id and directory.
func (c *cgroups) look(p string) aloneIn {
	g, err := c.h.Group(p) // a " (deleted)" path of a zombie fails here
	if err != nil {
		return aloneIn{}
	}
	fd, err := unix.Open(g.Dir()+"/cgroup.procs", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return aloneIn{}
	}
	c.pids = procfile.AppendInts(c.pids[:0], fd, c.buf)
	unix.Close(fd)
	if len(c.pids) != 1 {
		return aloneIn{}
	}
	id, err := g.ID()
	if err != nil {
		return aloneIn{}
	}
	return aloneIn{pid: c.pids[0], id: id, dir: g.Dir()}
}

// nameSamples puts pid in the samples of a verdict reached by cgroup id,
// which the Scanner leaves at 0 (it reads no fd table): the candidate was
// alone in its cgroup when the Scan read cgroup.procs, so the sockets are
// its own.
func nameSamples(r health.Result, pid int) {
	if r.Verdict == nil || !slices.Equal(r.PIDs, []int{pid}) {
		return
	}
	for i := range r.Verdict.Samples {
		if r.Verdict.Samples[i].PID == 0 {
			r.Verdict.Samples[i].PID = pid
		}
	}
}
