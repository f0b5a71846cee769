//go:build linux

package health

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/testchild"
)

// newEventScanner is a Scanner with the event source, its options and a
// log into buf (nil: the test's log); it fails under CI when the program
// cannot be loaded, since this kernel can.
func newEventScanner(tb testing.TB, ev EventOptions, buf *bytes.Buffer) *Scanner {
	tb.Helper()
	testchild.NeedRoot(tb)
	log := zerolog.New(zerolog.NewTestWriter(tb))
	if buf != nil {
		log = zerolog.New(buf)
	}
	s, err := NewScanner(ScannerOptions{Source: SourceBPF, Events: ev, Log: log})
	testchild.Need(tb, fmt.Sprintf("the CLOSE_WAIT event source (%v)", err), err == nil)
	tb.Cleanup(func() { s.Close() })
	if s.Reader() != ReaderBPF || s.Source().Name != ReaderBPF {
		tb.Fatalf("Reader %q, Source %+v", s.Reader(), s.Source())
	}
	return s
}

// judgement is what a Result says, in a form two Scanners can compare.
type judgement struct {
	CloseWait, CloseWaitNow int
	Reason                  Reason
	Samples                 []SocketSample
}

func judge(r Result) judgement {
	j := judgement{CloseWait: r.CloseWait, CloseWaitNow: r.CloseWaitNow}
	if r.Verdict != nil {
		j.Reason = r.Verdict.Reason
		for _, s := range r.Verdict.Samples {
			s.Age = 0 // the Scanners' clocks differ by the time between their Scans
			j.Samples = append(j.Samples, s)
		}
	}
	return j
}

// TestEventSourceSameVerdicts: the event source and the netlink dump
// reach the same verdicts, Scan after Scan, on the same leaks: in the
// child, in a grandchild in a network namespace of its own, and to an
// ignored endpoint; and the event source read its map, dumping each
// namespace once.
func TestEventSourceSameVerdicts(t *testing.T) {
	ev := newEventScanner(t, EventOptions{}, nil)
	nl := newTestScanner(t, ReaderNetlink)

	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	ignAddr := testchild.ClosingListener(t, "[::1]:0")
	leaker := leak(t, nl, "leak", 4, addr)
	quiet := leak(t, nl, "leak", 2, ignAddr)
	tree := testchild.Start(t, testchild.Spec{Mode: "netns-parent", N: 3})

	ign, err := ParseIgnore([]string{ignAddr})
	if err != nil {
		t.Fatal(err)
	}
	tgs := []Target{target("leaker", leaker.PID), target("ignored", quiet.PID), target("tree", tree.Cmd.Process.Pid)}
	tgs[1].Policy.CloseWait.Ignore = ign
	tgs[2].Descendants = true
	const scans = 5
	for i := range scans {
		a, b := ev.Scan(tgs), nl.Scan(tgs)
		for k := range tgs {
			ja, jb := judge(a[k]), judge(b[k])
			if !equalJudgement(ja, jb) {
				t.Errorf("scan %d, %s:\nbpf     %+v\nnetlink %+v", i, tgs[k].Name, ja, jb)
			}
		}
		if i == scans-1 {
			if a[0].CloseWait != 4 || a[1].Verdict != nil || a[2].CloseWait != 3 {
				t.Errorf("last scan: leaker %d, ignored %+v, tree %d", a[0].CloseWait, a[1].Verdict, a[2].CloseWait)
			}
		}
	}
	st := ev.Source().Events
	if st.Syncs != 2 || st.Dumps-st.InodeDumps != 2 || st.CrossChecks != 0 {
		t.Errorf("events %+v: want 2 syncs (the host's namespace, the grandchild's), no other dump", st)
	}
	if st.MapReads < scans || st.Missed != 0 || st.Stale != 0 || st.Overflow != 0 {
		t.Errorf("events %+v", st)
	}
}

// equalJudgement compares two judgements; the sockets of a netns
// descendant are compared by tuple and inode, as both sources read them.
func equalJudgement(a, b judgement) bool {
	return a.CloseWait == b.CloseWait && a.CloseWaitNow == b.CloseWaitNow && a.Reason == b.Reason && slices.Equal(a.Samples, b.Samples)
}

// TestEventSourceRecordsMatchDump: for the same sockets, the map gives
// the records a netlink dump gives (endpoints, inode, uid, cgroup id,
// cookie), in the host's namespace and in another one.
func TestEventSourceRecordsMatchDump(t *testing.T) {
	ev := newEventScanner(t, EventOptions{}, nil)
	er := ev.reader.(*eventReader)
	nl := newTestScanner(t, ReaderNetlink)
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	leak(t, nl, "leak", 3, addr)
	jailed := startHelperNetns(t, 2)
	for _, pid := range []int{0, jailed.PID} {
		// The first read of a namespace merges a dump; the second is the
		// map's.
		if _, err := er.CloseWait(pid); err != nil {
			t.Fatal(err)
		}
		var have, want []Socket
		testchild.WaitFor(t, "the same sockets", func() bool {
			m, err := er.CloseWait(pid)
			if err != nil {
				t.Fatal(err)
			}
			have = sortedSockets(m)
			d, err := nl.reader.CloseWait(pid)
			if err != nil {
				t.Fatal(err)
			}
			want = sortedSockets(d)
			return len(want) > 0 && slices.Equal(have, want)
		})
		for _, s := range have {
			if s.Cookie == 0 || s.Inode == 0 || s.CgroupID == 0 {
				t.Errorf("pid %d: incomplete record %+v", pid, s)
			}
		}
	}
}

func sortedSockets(ss []Socket) []Socket {
	out := slices.Clone(ss)
	slices.SortFunc(out, func(a, b Socket) int { return cmp.Compare(a.Cookie, b.Cookie) })
	return out
}

// TestEventSourceEarlierSockets: sockets already in CLOSE_WAIT before the
// program was loaded are found: merged into the map by the first Scan,
// and read from it afterwards.
func TestEventSourceEarlierSockets(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	nl := newTestScanner(t, ReaderNetlink)
	h := leak(t, nl, "leak", 3, addr)
	ev := newEventScanner(t, EventOptions{}, nil)
	tg := []Target{target("old", h.PID)}
	for i := range 3 {
		r := ev.Scan(tg)[0]
		if i > 0 && (r.Verdict == nil || r.CloseWait != 3) {
			t.Fatalf("scan %d: %+v verdict %+v, want 3 persistent sockets", i, r, r.Verdict)
		}
	}
	st := ev.Source().Events
	if st.Syncs != 1 || st.Dumps != st.Syncs+st.InodeDumps {
		t.Errorf("events %+v: want one sync", st)
	}
	socks, err := ev.reader.(*eventReader).prog.Entries(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range socks {
		if e.Remote.String() == addr {
			n++
		}
	}
	if n != 3 {
		t.Errorf("the map holds %d of the 3 earlier sockets", n)
	}
}

// TestEventSourceOverflow: a map too small for the CLOSE_WAIT sockets
// overflows; the event source says so, answers from the dump, and the
// verdict is the dump's. When the sockets are gone and the map has room
// again, it goes back to the map and says so.
func TestEventSourceOverflow(t *testing.T) {
	var buf bytes.Buffer
	ev := newEventScanner(t, EventOptions{MapSize: 2}, &buf)
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	nl := newTestScanner(t, ReaderNetlink)
	ev.Scan(nil)
	h := leak(t, nl, "leak", 6, addr)
	tg := []Target{target("many", h.PID)}
	for i := range 4 {
		r := ev.Scan(tg)[0]
		if i > 0 && r.CloseWait != 6 {
			t.Fatalf("scan %d: %d persistent sockets, want 6", i, r.CloseWait)
		}
	}
	st := ev.Source().Events
	if st.Overflow == 0 || st.OverflowEpisodes == 0 || st.Syncs < 4 {
		t.Errorf("events %+v: want an overflow, and a dump at every scan", st)
	}
	if !strings.Contains(buf.String(), "CLOSE_WAIT event map full") {
		t.Errorf("log:\n%s\nwant the overflow said", buf.String())
	}
}

// TestEventSourceBackToMap: after an overflow, a namespace is answered by
// the dump until a merge leaves the map with all its sockets; then the
// map answers again. (The map of the live test above stays full on a host
// with other CLOSE_WAIT sockets, so the overflow is made here.)
func TestEventSourceBackToMap(t *testing.T) {
	var buf bytes.Buffer
	ev := newEventScanner(t, EventOptions{}, &buf)
	er := ev.reader.(*eventReader)
	tg := []Target{target("self", os.Getpid())}
	ev.Scan(tg)
	ev.Scan(tg)
	before := er.Stats()
	er.mu.Lock()
	er.gen++ // what read does when the program's overflow count grew
	er.overflowing = true
	er.mu.Unlock()
	ev.Scan(tg)
	ev.Scan(tg)
	st := er.Stats()
	if st.Syncs != before.Syncs+1 || st.MapReads < before.MapReads+2 {
		t.Errorf("before %+v\nafter  %+v: want one sync, then the map", before, st)
	}
	if !strings.Contains(buf.String(), "back to the map") {
		t.Errorf("log:\n%s", buf.String())
	}
}

// TestEventSourceCrossCheck: a cross-check finds a socket the map lacks
// and an entry of a socket that is gone, counts and logs them, and
// repairs the map.
func TestEventSourceCrossCheck(t *testing.T) {
	var buf bytes.Buffer
	ev := newEventScanner(t, EventOptions{CrossCheck: time.Nanosecond}, &buf)
	er := ev.reader.(*eventReader)
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	nl := newTestScanner(t, ReaderNetlink)
	leak(t, nl, "leak", 2, addr)
	if _, err := er.CloseWait(0); err != nil { // sync
		t.Fatal(err)
	}
	mine := closeWaitTo(t, nl.reader, 0, addr)
	if err := er.prog.Delete(mine[0].Cookie); err != nil {
		t.Fatal(err)
	}
	fake := entryOf(sock(1, 0, "127.0.0.1:1", "127.0.0.1:2"), er.ownNS)
	fake.Cookie = ^uint64(0)
	if err := er.prog.Insert(fake); err != nil {
		t.Fatal(err)
	}
	er.fresh = false
	if _, err := er.CloseWait(0); err != nil { // cross-check
		t.Fatal(err)
	}
	st := er.Stats()
	if st.CrossChecks != 1 || st.Missed < 1 || st.Stale < 1 {
		t.Errorf("events %+v: want the deleted socket missed and the fake one stale", st)
	}
	if !strings.Contains(buf.String(), "disagree") || !strings.Contains(buf.String(), "127.0.0.1:1 127.0.0.1:2") {
		t.Errorf("log:\n%s", buf.String())
	}
	es, err := er.prog.Entries(nil)
	if err != nil {
		t.Fatal(err)
	}
	var cookies []uint64
	for _, e := range es {
		cookies = append(cookies, e.Cookie)
	}
	if !slices.Contains(cookies, mine[0].Cookie) || slices.Contains(cookies, fake.Cookie) {
		t.Errorf("map not repaired: %v", cookies)
	}
}

// TestEventSourceAcceptedLater: a connection whose peer closed while it
// waited in the accept queue entered CLOSE_WAIT with no file, so the map
// has no inode for it; once accepted it has one, and the event source
// gives it, as the dump does.
func TestEventSourceAcceptedLater(t *testing.T) {
	ev := newEventScanner(t, EventOptions{}, nil)
	er := ev.reader.(*eventReader)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := er.CloseWait(0); err != nil { // sync before the socket exists
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()
	c.Close()
	peer := func() []Socket {
		socks, err := er.CloseWait(0)
		if err != nil {
			t.Fatal(err)
		}
		var out []Socket
		for _, s := range socks {
			if s.Tuple.Remote.String() == local {
				out = append(out, s)
			}
		}
		return out
	}
	testchild.WaitFor(t, "the queued connection in CLOSE_WAIT", func() bool { return len(peer()) == 1 })
	if s := peer()[0]; s.Inode != 0 {
		t.Fatalf("inode %d before accept", s.Inode)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	err = syscall.Fstat(int(f.Fd()), &st)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s := peer(); len(s) != 1 || s[0].Inode != st.Ino {
		t.Errorf("after accept: %+v, want inode %d", s, st.Ino)
	}
	if n := er.Stats().InodeLookups; n < 2 {
		t.Errorf("%d inode lookups", n)
	}
	if want := netip.MustParseAddrPort(local); peer()[0].Tuple.Remote != want {
		t.Errorf("tuple %+v", peer()[0].Tuple)
	}
}
