//go:build linux

package cgroup

import (
	"encoding/binary"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

func TestIDIsInode(t *testing.T) {
	g := newTestGroup(t)
	id, err := g.ID()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(g.Dir(), &st); err != nil {
		t.Fatal(err)
	}
	if id != st.Ino {
		t.Errorf("ID() = %d, inode %d", id, st.Ino)
	}
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, g.Dir(), 0)
	if err != nil || h.Type() != fileIDKernfs {
		t.Errorf("name_to_handle_at: type %#x, %v; want a kernfs handle (ID() used the inode fallback)", h.Type(), err)
	}
	c, _ := g.Child("c")
	if err := c.Create(); err != nil {
		t.Fatal(err)
	}
	cid, err := c.ID()
	if err != nil || cid == id || cid == 0 {
		t.Errorf("child ID() = %d, %v; parent %d", cid, err, id)
	}
}

// TestOpenFDPlacesChild checks that a child started with CgroupFD is in the
// cgroup from its first instruction: cat, exec'd directly, reads its own
// /proc/self/cgroup and nothing ever moved it.
func TestOpenFDPlacesChild(t *testing.T) {
	g := newTestGroup(t)
	out, err := commandIn(t, g, "cat", "/proc/self/cgroup").Output()
	if err != nil {
		t.Fatal(err)
	}
	have, err := parseProcCgroup(out)
	if err != nil {
		t.Fatal(err)
	}
	if have != g.Path() {
		t.Errorf("child's /proc/self/cgroup says %q, want %q", have, g.Path())
	}
}

// TestIDMatchesSockDiag checks the id against what sock_diag reports: a
// helper placed in the cgroup listens on TCP, and the kernel's
// INET_DIAG_CGROUP_ID for that socket must equal ID().
func TestIDMatchesSockDiag(t *testing.T) {
	g := newTestGroup(t)
	f, err := g.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := testchild.Start(t, testchild.Spec{Mode: "listen", CgroupFD: int(f.Fd())})
	port, err := strconv.ParseUint(strings.Fields(c.Ready)[3], 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	want, err := g.ID()
	if err != nil {
		t.Fatal(err)
	}
	have := listenerCgroupID(t, uint16(port))
	if have != want || have == 0 {
		t.Errorf("INET_DIAG_CGROUP_ID = %d, ID() = %d", have, want)
	}
	t.Logf("socket on port %d: INET_DIAG_CGROUP_ID %d, ID() %d", port, have, want)
}

// listenerCgroupID dumps listening IPv4 TCP sockets with NETLINK_SOCK_DIAG
// and returns the INET_DIAG_CGROUP_ID attribute of the one on port.
func listenerCgroupID(t *testing.T, port uint16) uint64 {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Skipf("no sock_diag: %v", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 10}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	// nlmsghdr (16 bytes) + inet_diag_req_v2 (56 bytes).
	req := make([]byte, 16+56)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1)
	req[16], req[17] = unix.AF_INET, unix.IPPROTO_TCP
	ne.PutUint32(req[20:], 1<<10) // TCPF_LISTEN
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Skipf("sock_diag request: %v", err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("sock_diag: %v", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				t.Fatalf("no listening socket on port %d in the dump", port)
			case unix.NLMSG_ERROR:
				t.Skipf("sock_diag error %d (inet_diag not available?)", int32(ne.Uint32(m.Data)))
			}
			if id, ok := diagCgroupID(m.Data, port); ok {
				return id
			}
		}
	}
}

// diagCgroupID decodes one inet_diag_msg (72 bytes, then netlink
// attributes) and returns its INET_DIAG_CGROUP_ID (21) if its source port
// is port.
func diagCgroupID(d []byte, port uint16) (uint64, bool) {
	const msgLen, attrCgroupID = 72, 21
	if len(d) < msgLen || binary.BigEndian.Uint16(d[4:6]) != port {
		return 0, false
	}
	for off := msgLen; off+4 <= len(d); {
		l := int(binary.NativeEndian.Uint16(d[off:]))
		typ := binary.NativeEndian.Uint16(d[off+2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || off+l > len(d) {
			break
		}
		if typ == attrCgroupID && l >= 12 {
			return binary.NativeEndian.Uint64(d[off+4:]), true
		}
		off += (l + 3) &^ 3
	}
	return 0, false
}
