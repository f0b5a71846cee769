//go:build linux

package health

import (
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// netnsInode identifies the network namespace of pid ("self" for the
// supervisor) by the inode of /proc/<pid>/ns/net: two processes share a
// namespace exactly when these inodes (on the nsfs device) are equal.
func netnsInode(procRoot, pid string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(procRoot+"/"+pid+"/ns/net", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// NetnsSockets is the CLOSE_WAIT sockets of one network namespace, read
// through PID, a process that lives in it. Err says why they could not be
// read; then Sockets is empty.
type NetnsSockets struct {
	PID     int
	Sockets []Socket
	Err     error
}

// CloseWaitByNetns reads the CLOSE_WAIT sockets of every network
// namespace the processes pids live in, once each, through the first of
// pids that lives in it, in the order of pids; procRoot "" means /proc. A
// process that is gone is passed over: none of pids alive gives an empty
// list.
//
// It reads /proc/<pid>/net/tcp{,6} (the "proc" reader), which shows the
// namespace of pid without entering it: one read of a few namespaces, as
// a capture makes, needs no sock_diag socket opened in each of them.
func CloseWaitByNetns(procRoot string, pids []int) []NetnsSockets {
	if procRoot == "" {
		procRoot = "/proc"
	}
	r := newProcReader(procRoot)
	var out []NetnsSockets
	seen := map[uint64]bool{} // namespaces read, by netnsInode
	for _, pid := range pids {
		ns, err := netnsInode(procRoot, strconv.Itoa(pid))
		if err != nil || seen[ns] {
			continue // gone, or its namespace is read already
		}
		seen[ns] = true
		ss, err := r.CloseWait(pid)
		// The reader's slice is reused by its next call.
		out = append(out, NetnsSockets{PID: pid, Sockets: slices.Clone(ss), Err: err})
	}
	return out
}
