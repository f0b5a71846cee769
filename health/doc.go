//go:build linux

// Package health judges the processes resreap watches: TCP sockets that stay
// in CLOSE_WAIT across consecutive scans, and file-descriptor usage close to
// the process's RLIMIT_NOFILE.
//
// One Scanner serves every target of a tick. It gets the CLOSE_WAIT
// sockets from the map a BPF program keeps of the kernel's TCP state
// changes (the event source: source.go, events.go, health/bpf), whose cost
// follows the CLOSE_WAIT sockets and not the host's, or else asks the
// kernel for a dump of the CLOSE_WAIT sockets only (NETLINK_SOCK_DIAG,
// falling back to /proc/<pid>/net/tcp{,6}); the dump also keeps the event
// source in step (eventsync.go). It keeps the sockets seen in consecutive
// scans, and
// maps socket inodes to owning PIDs by reading fd tables only when some
// socket has persisted long enough to matter. A verdict carries its Evidence
// to the restart and to the restart history.
//
// The same readers serve whoever shows a process's fds and sockets (the
// capture before a health stop): ListFDs lists an fd table with its
// targets, FD.Socket names the sockets among them, and CloseWaitByNetns
// reads the CLOSE_WAIT sockets of each network namespace a process tree
// lives in.
package health
