//go:build linux

package health

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/testchild"
)

// diagMsg encodes a netlink message carrying one inet_diag_msg, the way the
// kernel lays it out.
func diagMsg(seq uint32, family uint8, local, remote netip.AddrPort, uid, inode uint32) []byte {
	b := make([]byte, nlmsgHdrLen+inetDiagMsgLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], 2) // NLM_F_MULTI
	ne.PutUint32(b[8:], seq)
	m := b[nlmsgHdrLen:]
	m[0] = family
	m[1] = tcpCloseWait
	binary.BigEndian.PutUint16(m[4:], local.Port())
	binary.BigEndian.PutUint16(m[6:], remote.Port())
	if family == syscall.AF_INET {
		a, r := local.Addr().As4(), remote.Addr().As4()
		copy(m[8:], a[:])
		copy(m[24:], r[:])
	} else {
		a, r := local.Addr().As16(), remote.Addr().As16()
		copy(m[8:], a[:])
		copy(m[24:], r[:])
	}
	ne.PutUint32(m[64:], uid)
	ne.PutUint32(m[68:], inode)
	return b
}

// nlattr encodes one netlink attribute, padded to 4 bytes.
func nlattr(typ uint16, payload []byte) []byte {
	b := make([]byte, (nlaHdrLen+len(payload)+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(nlaHdrLen+len(payload)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[nlaHdrLen:], payload)
	return b
}

func u64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

// withAttrs appends attributes to a message made by diagMsg, as the
// kernel does after the inet_diag_msg, and fixes its length.
func withAttrs(msg []byte, attrs ...[]byte) []byte {
	out := append([]byte(nil), msg...)
	for _, a := range attrs {
		out = append(out, a...)
	}
	binary.NativeEndian.PutUint32(out[0:], uint32(len(out)))
	return out
}

func ctrlMsg(seq uint32, typ uint16, errno int32) []byte {
	b := make([]byte, nlmsgHdrLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint32(b[8:], seq)
	ne.PutUint32(b[16:], uint32(errno))
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestParseDiagDump(t *testing.T) {
	ap := netip.MustParseAddrPort
	buf := cat(
		diagMsg(7, syscall.AF_INET, ap("127.0.0.1:40000"), ap("127.0.0.1:8080"), 1000, 11),
		diagMsg(6, syscall.AF_INET, ap("127.0.0.1:1"), ap("127.0.0.1:2"), 0, 99), // stale sequence
		diagMsg(7, syscall.AF_INET6, ap("[::ffff:127.0.0.1]:40001"), ap("[::ffff:127.0.0.2]:22"), 0, 12),
		diagMsg(7, syscall.AF_INET6, ap("[::1]:40002"), ap("[::1]:443"), 5, 13),
		ctrlMsg(7, nlmsgDone, 0),
	)
	have, done, err := parseDiagDump(buf, 7, nil)
	if err != nil || !done {
		t.Fatalf("done=%v err=%v", done, err)
	}
	want := []Socket{
		sock(11, 1000, "127.0.0.1:40000", "127.0.0.1:8080"),
		sock(12, 0, "127.0.0.1:40001", "127.0.0.2:22"),
		sock(13, 5, "[::1]:40002", "[::1]:443"),
	}
	if len(have) != len(want) {
		t.Fatalf("have %v, want %v", have, want)
	}
	for i := range want {
		if have[i] != want[i] {
			t.Errorf("socket %d: have %+v, want %+v", i, have[i], want[i])
		}
	}
}

func TestParseDiagDumpPartialAndErrors(t *testing.T) {
	ap := netip.MustParseAddrPort
	m := diagMsg(1, syscall.AF_INET, ap("127.0.0.1:1"), ap("127.0.0.1:2"), 0, 3)
	if s, done, err := parseDiagDump(m, 1, nil); err != nil || done || len(s) != 1 {
		t.Errorf("one datagram of a longer dump: %v %v %v", s, done, err)
	}
	if _, done, err := parseDiagDump(ctrlMsg(1, nlmsgError, -int32(syscall.ENOENT)), 1, nil); !done || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("error message: done=%v err=%v", done, err)
	}
	if _, _, err := parseDiagDump(m[:20], 1, nil); err == nil {
		t.Error("truncated message: no error")
	}
	if _, ok := parseInetDiagMsg(m[nlmsgHdrLen : nlmsgHdrLen+10]); ok {
		t.Error("short inet_diag_msg accepted")
	}
	bad := append([]byte(nil), m...)
	bad[nlmsgHdrLen] = 99 // unknown family
	if s, _, err := parseDiagDump(bad, 1, nil); err != nil || len(s) != 0 {
		t.Errorf("unknown family: %v %v", s, err)
	}
}

func TestDiagRequest(t *testing.T) {
	var b [nlmsgHdrLen + inetDiagReqV2Len]byte
	req := diagRequest(&b, syscall.AF_INET6, stateCloseWait, 42)
	ne := binary.NativeEndian
	if ne.Uint32(req) != 72 || ne.Uint16(req[4:]) != sockDiagByFamily || ne.Uint32(req[8:]) != 42 {
		t.Errorf("header %x", req[:16])
	}
	if req[16] != syscall.AF_INET6 || req[17] != syscall.IPPROTO_TCP || ne.Uint32(req[20:]) != 1<<8 {
		t.Errorf("body %x", req[16:24])
	}
}

// The kernel follows each inet_diag_msg with attributes: here what Linux
// 6.x sends unasked (INET_DIAG_SHUTDOWN, INET_DIAG_MARK for CAP_NET_ADMIN,
// INET_DIAG_CGROUP_ID, INET_DIAG_SOCKOPT), a pad, and flag bits in the type.
func TestParseDiagCgroupID(t *testing.T) {
	ap := netip.MustParseAddrPort
	base := diagMsg(3, syscall.AF_INET, ap("127.0.0.1:40000"), ap("127.0.0.1:8080"), 0, 11)
	shutdown := nlattr(8, []byte{1})
	mark := nlattr(15, []byte{0, 0, 0, 0})
	sockopt := nlattr(22, []byte{0, 0})
	const id = 0x1_0000_2a3b // past 32 bits: read as a u64
	for _, tc := range []struct {
		name string
		msg  []byte
		want uint64
	}{
		{"none (kernel < 5.7)", base, 0},
		{"as 6.x sends it", withAttrs(base, shutdown, mark, nlattr(inetDiagCgroupID, u64(id)), sockopt), id},
		{"first", withAttrs(base, nlattr(inetDiagCgroupID, u64(7))), 7},
		{"after a pad", withAttrs(base, nlattr(14, nil), nlattr(inetDiagCgroupID, u64(9))), 9},
		{"flag bits in the type", withAttrs(base, nlattr(inetDiagCgroupID|0x8000, u64(5))), 5},
		{"short payload", withAttrs(base, nlattr(inetDiagCgroupID, []byte{1, 2, 3, 4})), 0},
		{"other attributes only", withAttrs(base, shutdown, sockopt), 0},
		{"attribute longer than the message", withAttrs(base, []byte{200, 0, inetDiagCgroupID, 0}, u64(5)), 0},
		{"zero-length attribute", withAttrs(base, []byte{0, 0, 0, 0}, nlattr(inetDiagCgroupID, u64(5))), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have, _, err := parseDiagDump(tc.msg, 3, nil)
			if err != nil || len(have) != 1 {
				t.Fatalf("parse: %v %v", have, err)
			}
			want := sock(11, 0, "127.0.0.1:40000", "127.0.0.1:8080")
			want.CgroupID = tc.want
			if have[0] != want {
				t.Errorf("have %+v, want %+v", have[0], want)
			}
		})
	}
	// Two messages in one datagram: each keeps its own id.
	buf := cat(withAttrs(base, nlattr(inetDiagCgroupID, u64(1))),
		withAttrs(diagMsg(3, syscall.AF_INET6, ap("[::1]:1"), ap("[::1]:2"), 0, 12), mark, nlattr(inetDiagCgroupID, u64(2))),
		ctrlMsg(3, nlmsgDone, 0))
	have, done, err := parseDiagDump(buf, 3, nil)
	if err != nil || !done || len(have) != 2 || have[0].CgroupID != 1 || have[1].CgroupID != 2 {
		t.Errorf("two messages: %+v done=%v err=%v", have, done, err)
	}
}

// The live reader reports the cgroup id of the socket's creator: here the
// test binary's own cgroup, whose id a stat of its directory gives.
func TestDiagReaderCgroupID(t *testing.T) {
	r, err := NewReader(ReaderNetlink, "", zerolog.Nop())
	testchild.Need(t, fmt.Sprintf("the netlink socket reader (%v)", err), err == nil)
	defer r.Close()
	h, err := cgroup.Detect()
	testchild.Need(t, fmt.Sprintf("a cgroup2 hierarchy (%v)", err), err == nil)
	own, err := h.OwnGroup()
	if err != nil {
		t.Fatal(err)
	}
	want, err := own.ID()
	if err != nil {
		t.Fatal(err)
	}
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("want EOF from the listener, got %v", err)
	}
	testchild.WaitFor(t, "the CLOSE_WAIT socket", func() bool { return len(closeWaitTo(t, r, 0, addr)) == 1 })
	if have := closeWaitTo(t, r, 0, addr)[0].CgroupID; have != want {
		t.Errorf("cgroup id %d, want %d (%s)", have, want, own.Dir())
	}
}

func TestTCPDiagRequest(t *testing.T) {
	var b [nlmsgHdrLen + inetDiagReqLen]byte
	req := tcpDiagRequest(&b, stateCloseWait, 7)
	ne := binary.NativeEndian
	if ne.Uint32(req) != 76 || ne.Uint16(req[4:]) != tcpDiagGetSock || ne.Uint16(req[6:]) != nlmFRequest|nlmFDump || ne.Uint32(req[8:]) != 7 {
		t.Errorf("header %x", req[:16])
	}
	if req[16] != 0 || ne.Uint32(req[16+52:]) != 1<<8 {
		t.Errorf("body %x: want family AF_UNSPEC and the CLOSE_WAIT state bit at byte 52", req[16:])
	}
}

// One request for both families answers as the two requests of one
// family each do: the same sockets, IPv4 and IPv6, with their cgroup ids.
func TestDiagReaderBothFamilies(t *testing.T) {
	r, err := newDiagReader("/proc")
	testchild.Need(t, fmt.Sprintf("the netlink socket reader (%v)", err), err == nil)
	defer r.Close()
	if !r.both {
		t.Fatal("the kernel refused TCPDIAG_GETSOCK: one request per family")
	}
	var addrs []string
	for _, a := range []string{"127.0.0.1:0", "[::1]:0"} {
		if a == "[::1]:0" && !hasIPv6() {
			continue
		}
		addr := testchild.ClosingListener(t, a)
		addrs = append(addrs, addr)
		for range 2 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("want EOF from the listener, got %v", err)
			}
		}
	}
	mine := func(socks []Socket) map[Socket]bool {
		out := map[Socket]bool{}
		for _, s := range socks {
			for _, a := range addrs {
				if s.Tuple.Remote == netip.MustParseAddrPort(a) {
					out[s] = true
				}
			}
		}
		return out
	}
	testchild.WaitFor(t, "the CLOSE_WAIT sockets", func() bool {
		socks, err := r.CloseWait(0)
		return err == nil && len(mine(socks)) == 2*len(addrs)
	})
	socks, err := r.CloseWait(0)
	if err != nil {
		t.Fatal(err)
	}
	both := mine(socks)
	r.both = false
	socks, err = r.CloseWait(0)
	if err != nil {
		t.Fatal(err)
	}
	if one := mine(socks); !maps.Equal(both, one) {
		t.Errorf("one request: %v\ntwo requests: %v", both, one)
	}
	for s := range both {
		if s.CgroupID == 0 && cgroupIDsExpected() {
			t.Errorf("socket %v without its cgroup id", s)
		}
	}
}

func hasIPv6() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// cgroupIDsExpected reports whether sockets carry cgroup ids here.
func cgroupIDsExpected() bool {
	ok, _ := cgroup.SocketIDs()
	return ok
}
