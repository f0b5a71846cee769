//go:build linux

package health

import (
	"slices"
	"time"

	"github.com/resreap/resreap/internal/procfile"
	"golang.org/x/sys/unix"
)

// cgroupID returns the id of the target's cgroup, 0 when it has none
// (both Cgroup and CgroupDir are needed).
func (t Target) cgroupID() uint64 {
	if t.CgroupDir == "" {
		return 0
	}
	return t.Cgroup
}

// cgroupOnly reports whether the target has a cgroup that holds every
// socket it has (Target.CgroupOnly).
func (t Target) cgroupOnly() bool { return t.CgroupOnly && t.cgroupID() != 0 }

// cgroupPIDs returns the processes the cgroup.procs file of dir lists:
// pid first when it is among them, then the others in ascending order. It
// reads with raw syscalls into buf, like descendants, and allocates only
// the result. An empty cgroup gives an empty list.
func cgroupPIDs(dir string, pid int, buf []byte) ([]int, error) {
	fd, err := unix.Open(dir+"/cgroup.procs", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	pids := procfile.AppendInts(nil, fd, buf)
	slices.Sort(pids)
	if i, ok := slices.BinarySearch(pids, pid); ok {
		copy(pids[1:i+1], pids[:i])
		pids[0] = pid
	}
	return pids, nil
}

// cgroupMembers indexes the members of a namespace group that have a
// cgroup by its id, for the sockets of one dump. Most groups have one or a
// few such members; the map is made only when there is one.
func cgroupMembers(g *nsGroup) map[uint64][]*judged {
	var m map[uint64][]*judged
	for _, j := range g.members {
		id := j.t.cgroupID()
		if id == 0 || j.pol.CloseWait.Disabled {
			continue
		}
		if m == nil {
			m = map[uint64][]*judged{}
		}
		m[id] = append(m[id], j)
		for _, more := range j.t.Cgroups {
			if more != 0 && more != id {
				m[more] = append(m[more], j)
			}
		}
	}
	return m
}

// byCgroup gives the socket inode, seen as e, to every member of the scan
// whose cgroup id it carries: counted in CloseWaitNow unless ignored, and
// a persistent sample when old enough for the member. No fd table is
// read, so the sample's PID is 0 (see SocketSample). It reports whether
// some member had that cgroup, which decides the socket.
func (s *Scanner) byCgroup(members []*judged, inode uint64, e seen, now time.Time) bool {
	for _, j := range members {
		if j.pol.CloseWait.Ignore.Match(e.tuple.Remote) {
			continue
		}
		s.stats.ByCgroup++
		j.res.CloseWaitNow++
		if j.canPersist && !e.since.After(j.limit) {
			j.persistent = append(j.persistent, SocketSample{Inode: inode, Tuple: e.tuple, Age: Duration(now.Sub(e.since))})
		}
	}
	return len(members) > 0
}
