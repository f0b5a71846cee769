//go:build linux

package bpf

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

// load loads the program or fails under CI: this kernel has BPF, BTF and
// the tracepoint, and the tests run as root.
func load(t *testing.T, opts Options) *Program {
	t.Helper()
	testchild.NeedRoot(t)
	p, err := Load(opts)
	testchild.Need(t, "the CLOSE_WAIT BPF program ("+Why(err)+")", err == nil)
	t.Cleanup(func() { p.Close() })
	return p
}

// closeWait makes n sockets in CLOSE_WAIT: connections to a listener that
// accepts and closes them, never closed here. It returns their local
// addresses and a function that closes them.
func closeWait(t *testing.T, network, addr string, n int) (string, []net.Conn) {
	t.Helper()
	remote := testchild.ClosingListener(t, addr)
	var conns []net.Conn
	for range n {
		c, err := net.Dial(network, remote)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		t.Cleanup(func() { c.Close() })
	}
	return remote, conns
}

func entriesTo(t *testing.T, p *Program, remote string) []Entry {
	t.Helper()
	es, err := p.Entries(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort(remote)
	var out []Entry
	for _, e := range es {
		if netip.AddrPortFrom(e.Remote.Addr().Unmap(), e.Remote.Port()) == want {
			out = append(out, e)
		}
	}
	return out
}

// TestEntries: the program records sockets entering CLOSE_WAIT, IPv4 and
// IPv6, with their endpoints, inode, namespace and uid, and forgets them
// when they leave it.
func TestEntries(t *testing.T) {
	p := load(t, Options{})
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			remote, conns := closeWait(t, tc.network, tc.addr, 3)
			testchild.WaitFor(t, "3 entries", func() bool { return len(entriesTo(t, p, remote)) == 3 })
			es := entriesTo(t, p, remote)
			var locals, want []netip.AddrPort
			for _, e := range es {
				if e.Inode == 0 || e.Cookie == 0 || e.Entered == 0 || uint64(e.Netns) != st.Ino || e.UID != 0 {
					t.Errorf("entry %+v", e)
				}
				locals = append(locals, netip.AddrPortFrom(e.Local.Addr().Unmap(), e.Local.Port()))
			}
			for _, c := range conns {
				want = append(want, netip.MustParseAddrPort(c.LocalAddr().String()))
			}
			slices.SortFunc(locals, netip.AddrPort.Compare)
			slices.SortFunc(want, netip.AddrPort.Compare)
			if !slices.Equal(locals, want) {
				t.Errorf("locals %v, want %v", locals, want)
			}
			for _, c := range conns {
				c.Close() // CLOSE_WAIT → LAST_ACK
			}
			testchild.WaitFor(t, "the entries to go", func() bool { return len(entriesTo(t, p, remote)) == 0 })
			c, err := p.Counters()
			if err != nil || c.Entered < 3 || c.Left < 3 {
				t.Errorf("counters %+v, %v", c, err)
			}
		})
	}
}

// TestOverflow: a map smaller than the CLOSE_WAIT sockets counts what it
// could not hold.
func TestOverflow(t *testing.T) {
	p := load(t, Options{MapSize: 2})
	closeWait(t, "tcp4", "127.0.0.1:0", 5)
	testchild.WaitFor(t, "an overflow", func() bool {
		c, err := p.Counters()
		return err == nil && c.Overflow >= 3
	})
	if es, _ := p.Entries(nil); len(es) > 2 {
		t.Errorf("%d entries in a map of 2", len(es))
	}
	if err := p.Insert(Entry{Cookie: 1, Family: unix.AF_INET}); !errors.Is(err, ErrFull) {
		t.Errorf("insert into a full map: %v", err)
	}
}

// TestInsertDelete: an entry inserted from user space is not written over
// the program's own, and Delete removes it.
func TestInsertDelete(t *testing.T) {
	p := load(t, Options{})
	remote, _ := closeWait(t, "tcp4", "127.0.0.1:0", 1)
	testchild.WaitFor(t, "the entry", func() bool { return len(entriesTo(t, p, remote)) == 1 })
	own := entriesTo(t, p, remote)[0]
	fake := own
	fake.Inode = 1
	if err := p.Insert(fake); err != nil {
		t.Fatal(err)
	}
	if have := entriesTo(t, p, remote)[0]; have != own {
		t.Errorf("after insert: %+v, want the program's %+v", have, own)
	}
	other := own
	other.Cookie, other.Remote = ^uint64(0), netip.MustParseAddrPort("127.0.0.2:9")
	if err := p.Insert(other); err != nil {
		t.Fatal(err)
	}
	if have := entriesTo(t, p, "127.0.0.2:9"); len(have) != 1 || have[0] != other {
		t.Errorf("inserted %+v, read %+v", other, have)
	}
	if err := p.Delete(other.Cookie); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(other.Cookie); err != nil {
		t.Errorf("delete of a missing entry: %v", err)
	}
	if have := entriesTo(t, p, "127.0.0.2:9"); len(have) != 0 {
		t.Errorf("after delete: %+v", have)
	}
}

// TestCloseUnloads: nothing of the program stays in the kernel after
// Close (no pinning, no other reference).
func TestCloseUnloads(t *testing.T) {
	testchild.NeedRoot(t)
	p, err := Load(Options{})
	testchild.Need(t, "the CLOSE_WAIT BPF program ("+Why(err)+")", err == nil)
	progID, mapID, err := p.IDs()
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Entries(nil); err == nil {
		t.Error("Entries after Close")
	}
	testchild.WaitFor(t, "the kernel to free the program and its map", func() bool {
		pr, perr := ebpf.NewProgramFromID(ebpf.ProgramID(progID))
		if perr == nil {
			pr.Close()
		}
		m, merr := ebpf.NewMapFromID(ebpf.MapID(mapID))
		if merr == nil {
			m.Close()
		}
		return errors.Is(perr, unix.ENOENT) && errors.Is(merr, unix.ENOENT)
	})
}

func TestWhy(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.Join(ErrLoad, unix.EPERM), "not permitted"},
		{errors.Join(ErrLoad, unix.ENOENT), "no BTF"},
		{errors.Join(ErrLoad, ebpf.ErrNotSupported), "too old"},
	} {
		if have := Why(tc.err); tc.want == "" && have != "" || !strings.Contains(have, tc.want) {
			t.Errorf("Why(%v) = %q, want %q in it", tc.err, have, tc.want)
		}
	}
}
