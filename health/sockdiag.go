//go:build linux

package health

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// Wire layout of the sock_diag messages used here (linux/netlink.h,
// linux/inet_diag.h). The structs are fixed by the kernel ABI; they are
// decoded by hand so that a dump is parsed in place, without allocating per
// socket.
const (
	nlmsgHdrLen      = 16
	nlmsgError       = 2
	nlmsgDone        = 3
	nlmFRequest      = 0x1
	nlmFDump         = 0x300
	sockDiagByFamily = 20
	tcpDiagGetSock   = 18 // TCPDIAG_GETSOCK: the request of inet_diag before sock_diag

	inetDiagReqV2Len = 56
	inetDiagReqLen   = 60 // struct inet_diag_req, TCPDIAG_GETSOCK's
	inetDiagMsgLen   = 72

	tcpCloseWait = 8 // TCP_CLOSE_WAIT in the kernel's tcp_states.h

	nlaHdrLen         = 4      // struct nlattr: nla_len, nla_type
	nlaTypeMask       = 0x3fff // nla_type without NLA_F_NESTED, NLA_F_NET_BYTEORDER
	inetDiagCgroupID  = 21     // INET_DIAG_CGROUP_ID: a u64
	inetDiagCgroupLen = nlaHdrLen + 8
)

// The cgroup id of each socket needs no request: since Linux 5.7
// inet_diag_msg_attrs_fill adds INET_DIAG_CGROUP_ID to every socket it
// reports (when the kernel keeps socket cgroup data, as every kernel with
// cgroups does). It could not be asked for anyway: idiag_ext is a u8 of
// extension bits 1 to 8 and the attribute is number 21. An older kernel
// sends no such attribute and the id stays 0 (unknown).

// stateCloseWait selects the CLOSE_WAIT sockets in a request; states 0
// selects none, and the kernel then skips its socket tables altogether.
const stateCloseWait = 1 << tcpCloseWait

// diagRequest fills b with the NLM_F_DUMP request for the TCP sockets of
// family (AF_INET or AF_INET6) in the given states (a bit mask, usually
// stateCloseWait). The state filter runs in the kernel, so the reply carries
// only CLOSE_WAIT sockets however many connections the host has: that is
// what makes this reader cheap.
func diagRequest(b *[nlmsgHdrLen + inetDiagReqV2Len]byte, family uint8, states, seq uint32) []byte {
	*b = [nlmsgHdrLen + inetDiagReqV2Len]byte{}
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	r := b[nlmsgHdrLen:]
	r[0] = family
	r[1] = syscall.IPPROTO_TCP
	ne.PutUint32(r[4:], states)
	return b[:]
}

// tcpDiagRequest fills b with the NLM_F_DUMP request TCPDIAG_GETSOCK for
// the TCP sockets in the given states, of both families at once.
//
// SOCK_DIAG_BY_FAMILY (diagRequest) asks for one family: a dump of IPv4
// and IPv6 takes two requests, and the kernel walks its whole table of
// established sockets for each (a socket of the other family is skipped
// one by one), which at 100k connections is most of a scan. The older
// request, which the kernel still answers (inet_diag_rcv_msg_compat),
// asks with AF_UNSPEC, and one walk answers it with the sockets of both
// families, in the same messages and attributes (the cgroup id
// included); `ss -t` asks that way too. Its struct inet_diag_req is
// inet_diag_req_v2 with the family, protocol and extension bytes
// replaced by family, two address lengths and the extensions, and a
// 4-byte table selector (unused) at the end: idiag_states is at byte 52.
func tcpDiagRequest(b *[nlmsgHdrLen + inetDiagReqLen]byte, states, seq uint32) []byte {
	*b = [nlmsgHdrLen + inetDiagReqLen]byte{}
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], tcpDiagGetSock)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	ne.PutUint32(b[nlmsgHdrLen+52:], states)
	return b[:]
}

// parseDiagDump appends the sockets of the netlink messages in buf (one
// datagram of a dump reply) to dst. done reports the end of the dump.
// Messages of another sequence number (a stale reply) are skipped.
func parseDiagDump(buf []byte, seq uint32, dst []Socket) (_ []Socket, done bool, err error) {
	ne := binary.NativeEndian
	for len(buf) >= nlmsgHdrLen {
		l := int(ne.Uint32(buf[0:]))
		if l < nlmsgHdrLen || l > len(buf) {
			return dst, false, fmt.Errorf("sock_diag: bad message length %d (have %d)", l, len(buf))
		}
		typ := ne.Uint16(buf[4:])
		mseq := ne.Uint32(buf[8:])
		body := buf[nlmsgHdrLen:l]
		// Messages are 4-byte aligned.
		next := (l + 3) &^ 3
		if next > len(buf) {
			next = len(buf)
		}
		buf = buf[next:]
		if mseq != seq {
			continue
		}
		switch typ {
		case nlmsgDone:
			return dst, true, nil
		case nlmsgError:
			if len(body) >= 4 {
				if e := int32(ne.Uint32(body)); e != 0 {
					return dst, true, fmt.Errorf("sock_diag: %w", syscall.Errno(-e))
				}
			}
			return dst, true, nil
		case sockDiagByFamily, tcpDiagGetSock: // a reply has the request's type
			s, ok := parseInetDiagMsg(body)
			if ok {
				dst = append(dst, s)
			}
		}
	}
	return dst, false, nil
}

// parseInetDiagMsg decodes one struct inet_diag_msg and the attributes
// that follow it (only INET_DIAG_CGROUP_ID is kept). Ports are big endian
// (__be16), addresses are in network order, the other fields are in host
// order. ok is false for a short message or an unknown family.
func parseInetDiagMsg(b []byte) (s Socket, ok bool) {
	if len(b) < inetDiagMsgLen {
		return Socket{}, false
	}
	family := b[0]
	sport := binary.BigEndian.Uint16(b[4:])
	dport := binary.BigEndian.Uint16(b[6:])
	var src, dst netip.Addr
	switch family {
	case syscall.AF_INET:
		src = netip.AddrFrom4([4]byte(b[8:12]))
		dst = netip.AddrFrom4([4]byte(b[24:28]))
	case syscall.AF_INET6:
		src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	default:
		return Socket{}, false
	}
	// idiag_expires, rqueue, wqueue precede uid and inode.
	ne := binary.NativeEndian
	// idiag_cookie: two u32 in host order, low word first.
	s.Cookie = uint64(ne.Uint32(b[44:])) | uint64(ne.Uint32(b[48:]))<<32
	s.UID = ne.Uint32(b[64:])
	s.Inode = uint64(ne.Uint32(b[68:]))
	s.Tuple = Tuple{
		Local:  netip.AddrPortFrom(src, sport),
		Remote: netip.AddrPortFrom(dst, dport),
	}
	s.CgroupID = diagCgroupID(b[inetDiagMsgLen:])
	return s, true
}

// diagCgroupID returns the INET_DIAG_CGROUP_ID among the netlink
// attributes in b, 0 when there is none. The attributes are walked in
// place; a malformed one ends the walk, losing only the id.
func diagCgroupID(b []byte) uint64 {
	ne := binary.NativeEndian
	for len(b) >= nlaHdrLen {
		l := int(ne.Uint16(b))
		if l < nlaHdrLen || l > len(b) {
			return 0
		}
		if ne.Uint16(b[2:])&nlaTypeMask == inetDiagCgroupID && l >= inetDiagCgroupLen {
			return ne.Uint64(b[nlaHdrLen:])
		}
		next := (l + 3) &^ 3 // attributes are 4-byte aligned
		if next >= len(b) {
			return 0
		}
		b = b[next:]
	}
	return 0
}
