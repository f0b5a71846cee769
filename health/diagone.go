//go:build linux

package health

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// Asking sock_diag for one socket, not a dump: the kernel finds it in its
// hash of connections by the 4-tuple (inet_diag_find_one_icsk), checks the
// cookie, and answers with that socket alone. The cost is one lookup,
// however many sockets the host has; the event source uses it for the
// inode of a socket that had none when it entered CLOSE_WAIT.

// diagOneRequest fills b with the request for the TCP socket s (its tuple
// and cookie). Ports are big endian, addresses in network order; an IPv4
// tuple asks AF_INET, which finds an IPv6 socket with v4-mapped addresses
// too (the kernel looks both up in one table).
func diagOneRequest(b *[nlmsgHdrLen + inetDiagReqV2Len]byte, s Socket, seq uint32) []byte {
	*b = [nlmsgHdrLen + inetDiagReqV2Len]byte{}
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], nlmFRequest)
	ne.PutUint32(b[8:], seq)
	r := b[nlmsgHdrLen:]
	r[0] = unix.AF_INET6
	if s.Tuple.Local.Addr().Is4() {
		r[0] = unix.AF_INET
	}
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // any state
	// struct inet_diag_sockid at offset 8: sport, dport, src[4], dst[4],
	// if, cookie[2].
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], s.Tuple.Local.Port())
	binary.BigEndian.PutUint16(id[2:], s.Tuple.Remote.Port())
	putAddr(id[4:20], s.Tuple.Local)
	putAddr(id[20:36], s.Tuple.Remote)
	ne.PutUint32(id[40:], uint32(s.Cookie))
	ne.PutUint32(id[44:], uint32(s.Cookie>>32))
	return b[:]
}

func putAddr(dst []byte, a netip.AddrPort) {
	ip := a.Addr()
	if ip.Is4() {
		v := ip.As4()
		copy(dst, v[:])
		return
	}
	v := ip.As16()
	copy(dst, v[:])
}

// Inodes fills the Inode of the sockets of socks that have none, asking
// the kernel for each one alone in the network namespace of pid (0: the
// supervisor's). A socket still without a file (in an accept queue) or
// gone stays at 0. It returns how many were asked.
func (r *diagReader) Inodes(pid int, socks []Socket) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return 0, errors.New("sock_diag reader closed")
	}
	fd := r.fd
	if pid > 0 {
		p := strconv.Itoa(pid)
		ns, err := netnsInode(r.procRoot, p)
		if err == nil && r.ownNS != 0 && ns != r.ownNS {
			if fd, err = openDiagIn(r.procRoot + "/" + p + "/ns/net"); err != nil {
				return 0, err
			}
			defer unix.Close(fd)
		}
	}
	asked := 0
	for i := range socks {
		if socks[i].Inode != 0 || socks[i].Cookie == 0 {
			continue
		}
		asked++
		ino, err := r.one(fd, socks[i])
		if err != nil {
			return asked, err
		}
		socks[i].Inode = ino
	}
	return asked, nil
}

// one asks for the socket s alone and returns its inode; 0 when the
// kernel has no such socket any more (ENOENT, or ESTALE: another socket
// has the tuple now).
func (r *diagReader) one(fd int, s Socket) (uint64, error) {
	r.seq++
	req := diagOneRequest(&r.req, s, r.seq)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(fd, r.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("sock_diag recv: %w", err)
		}
		out, done, err := parseDiagDump(r.buf[:n], r.seq, r.out[:0])
		r.out = out
		switch {
		case err == nil && len(out) > 0:
			return out[0].Inode, nil
		case err != nil && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESTALE)):
			return 0, nil
		case err != nil:
			return 0, err
		case done:
			return 0, nil
		}
	}
}
