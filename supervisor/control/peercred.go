//go:build linux

package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerCred reads SO_PEERCRED: the credentials the peer had when it
// connected, which it cannot change afterwards.
func peerCred(c *net.UnixConn) (peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peer{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peer{}, err
	}
	if cerr != nil {
		return peer{}, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
}

// peerGroups returns the supplementary groups of the peer. SO_PEERGROUPS
// (Linux 4.13) gives them as of connect time; older kernels fall back to
// /proc/PID/status, which describes the process now: a peer that exits and
// whose pid is reused in the meantime is judged by the new process, a race
// accepted only on kernels that leave no better way.
func peerGroups(c *net.UnixConn, pid int32) ([]uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var gs []uint32
	var gerr error
	if err := raw.Control(func(fd uintptr) { gs, gerr = getsockoptPeerGroups(int(fd)) }); err != nil {
		return nil, err
	}
	if !errors.Is(gerr, unix.ENOPROTOOPT) {
		return gs, gerr
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil, err
	}
	return parseStatusGroups(string(status))
}

// getsockoptPeerGroups reads SO_PEERGROUPS, which x/sys has no helper for:
// an array of gid_t whose needed size the kernel reports with ERANGE.
func getsockoptPeerGroups(fd int) ([]uint32, error) {
	buf := make([]uint32, 32)
	for {
		n := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd),
			unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch {
		case errno == unix.ERANGE && int(n/4) > len(buf):
			buf = make([]uint32, n/4)
		case errno != 0:
			return nil, fmt.Errorf("SO_PEERGROUPS: %w", errno)
		default:
			return buf[:n/4], nil
		}
	}
}

// parseStatusGroups reads the "Groups:" line of a /proc/PID/status file.
func parseStatusGroups(status string) ([]uint32, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		var gs []uint32
		for _, f := range strings.Fields(rest) {
			g, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("status Groups: %w", err)
			}
			gs = append(gs, uint32(g))
		}
		return gs, nil
	}
	return nil, errors.New("status has no Groups line")
}
