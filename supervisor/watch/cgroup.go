//go:build linux

package watch

import (
	"slices"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
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
type cgroups struct {
	h cgroup.Hierarchy // zero: no cgroup2 hierarchy to read
}

// newCgroups detects the cgroup2 hierarchy when procRoot is the real
// /proc (a candidate's cgroup is read from /proc/<pid>/cgroup); otherwise,
// without a hierarchy, or when sockets do not carry their creator's cgroup
// id (cgroup.SocketIDs), every candidate is judged by fd walk.
func newCgroups(procRoot string) *cgroups {
	if procRoot != "/proc" {
		return &cgroups{}
	}
	h, err := cgroup.Detect()
	if ok, _ := cgroup.SocketIDs(); err != nil || !ok {
		return &cgroups{}
	}
	return &cgroups{h: h}
}

// alone returns the cgroup of pid (its id and directory) when pid is the
// only process in it; ok is false otherwise, or when it cannot be told.
func (c *cgroups) alone(pid int) (id uint64, dir string, ok bool) {
	if c.h.Mount == "" {
		return 0, "", false
	}
	p, err := cgroup.ProcCgroup(pid)
	if err != nil {
		return 0, "", false
	}
	g, err := c.h.Group(p) // a " (deleted)" path of a zombie fails here
	if err != nil {
		return 0, "", false
	}
	procs, err := g.Procs()
	if err != nil || !slices.Equal(procs, []int{pid}) {
		return 0, "", false
	}
	if id, err = g.ID(); err != nil {
		return 0, "", false
	}
	return id, g.Dir(), true
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
