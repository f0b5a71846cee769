//go:build linux

package health

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"
)

// Socket is one TCP socket in CLOSE_WAIT as the kernel reports it.
type Socket struct {
	Inode uint64 // sockfs inode; the link target of the owner's fd is "socket:[Inode]"
	Tuple Tuple  // local and foreign endpoint, IPv4-mapped addresses unmapped
	UID   uint32 // owner UID of the socket
	// CgroupID is the cgroup v2 id the kernel keeps with the socket
	// (INET_DIAG_CGROUP_ID, Linux 5.7): the cgroup of the process that
	// created it, or for an accepted connection of the process that
	// created the listener; the id of a cgroup directory is what
	// internal/cgroup's Group.ID returns. 0 means unknown: the /proc
	// reader has no such column, and an older kernel sends no attribute.
	CgroupID uint64
	// Cookie is the socket cookie the kernel gives each socket (sock_diag's
	// idiag_cookie, bpf_get_socket_cookie): the event source's key, with
	// which it compares its map to a dump. 0 means unknown (the /proc
	// reader).
	Cookie uint64
}

// SocketReader lists the TCP sockets in CLOSE_WAIT of one network namespace.
type SocketReader interface {
	// CloseWait returns the CLOSE_WAIT sockets of the network namespace of
	// pid. The slice is owned by the reader and valid until the next call.
	CloseWait(pid int) ([]Socket, error)
	// Name names the implementation ("bpf", "netlink" or "proc") for the
	// log.
	Name() string
	// Close releases the kernel resources held between scans.
	Close() error
}

// Reader kinds accepted by NewReader.
const (
	ReaderAuto    = "auto"
	ReaderNetlink = "netlink"
	ReaderProc    = "proc"
)

// ErrReader is returned (wrapped) when no socket reader of the requested
// kind can be used.
var ErrReader = errors.New("socket reader unavailable")

// NewReader returns the socket reader of the given kind. "auto" (or "")
// probes NETLINK_SOCK_DIAG, which asks the kernel for the CLOSE_WAIT sockets
// only, and falls back to parsing /proc/<pid>/net/tcp{,6} when sock_diag is
// not available (old kernel, seccomp, missing module). The caller logs
// Name() once so an operator knows which cost to expect. "bpf" is the
// event source over a netlink dump (source.go); "auto" never chooses it:
// ScannerOptions.Source does.
func NewReader(kind, procRoot string, log zerolog.Logger) (SocketReader, error) {
	if procRoot == "" {
		procRoot = "/proc"
	}
	switch kind {
	case ReaderProc:
		return newProcReader(procRoot), nil
	case ReaderNetlink:
		r, err := newDiagReader(procRoot)
		if err != nil {
			return nil, fmt.Errorf("%w: netlink: %w", ErrReader, err)
		}
		return r, nil
	case ReaderBPF:
		return newBPFReader(procRoot, log)
	case ReaderAuto, "":
		r, err := newDiagReader(procRoot)
		if err == nil {
			return r, nil
		}
		log.Warn().Err(err).Msg("sock_diag unavailable, reading /proc/<pid>/net/tcp instead")
		return newProcReader(procRoot), nil
	default:
		return nil, fmt.Errorf("%w: unknown kind %q (want auto, netlink, proc or bpf)", ErrReader, kind)
	}
}
