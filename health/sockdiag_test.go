//go:build linux

package health

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"testing"
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
