//go:build linux

package health

import (
	"math"
	"net"
	"os"
	"slices"
	"testing"

	"github.com/resreap/resreap/internal/testchild"
)

func TestCompareWalk(t *testing.T) {
	items := []walkItem{
		{pid: 9, otherUID: true, fds: 3},
		{pid: 8, fds: math.MaxInt}, // could not be counted
		{pid: 7, fds: 20000},
		{pid: 6, fds: 12},
		{pid: 5, fds: 12},
		{pid: 4, holder: true, fds: 50000},
		{pid: 3, otherUID: true, holder: true, fds: 1},
		{pid: 2, fds: 110},
	}
	slices.SortFunc(items, compareWalk)
	var have []int
	for _, it := range items {
		have = append(have, it.pid)
	}
	// uid first, then known holders, then fewest fds, then PID.
	if want := []int{4, 5, 6, 2, 7, 8, 3, 9}; !slices.Equal(have, want) {
		t.Errorf("walk order %v, want %v", have, want)
	}
}

// TestOwnerWalkSmallLeakerFirst: the owner of persistent CLOSE_WAIT
// sockets is a small process, listed among processes holding thousands of
// fds of the same uid. The walk reads the small tables first and stops at
// the leaker: the large tables are never read.
func TestOwnerWalkSmallLeakerFirst(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	pairs := testchild.Start(t, testchild.Spec{Mode: "pairs", N: 1000})   // 2000 sockets
	files := testchild.Start(t, testchild.Spec{Mode: "fds", Limit: 1024}) // ~970 fds
	idle := testchild.Start(t, testchild.Spec{Mode: "idle"})
	leaker := leak(t, s, "leak", 3, addr)

	count := func(c *testchild.Child) int {
		n, err := fdCount("/proc", c.PID, s.dirBuf)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	small := count(idle) + count(leaker)
	if big := min(count(pairs), count(files)); big < 10*small {
		t.Fatalf("the large processes hold %d fds, the small ones %d together", big, small)
	}
	// Listed large first, and under names that sort before the leaker's.
	tg := []Target{target("a-pairs", pairs.PID), target("b-files", files.PID),
		target("c-idle", idle.PID), target("d-leaker", leaker.PID)}
	s.Scan(tg)
	res := s.Scan(tg)
	if ev := res[3].Verdict; ev == nil || ev.CloseWait != 3 {
		t.Fatalf("leaker verdict %+v, want 3 sockets", ev)
	}
	st := s.Stats()
	if st.FDWalks != 1 || st.FDTables > 2 || st.Readlinks > small {
		t.Errorf("walks %d, fd tables %d, readlinks %d; want 1 walk of at most 2 tables (idle, leaker) and at most %d readlinks",
			st.FDWalks, st.FDTables, st.Readlinks, small)
	}
	t.Logf("fd tables %d, readlinks %d (idle and leaker hold %d fds; pairs %d, files %d)",
		st.FDTables, st.Readlinks, small, count(pairs), count(files))
}

// TestOwnerWalkBigHolderLast: when the owner is the process with the most
// fds, every smaller table is read before it.
func TestOwnerWalkBigHolderLast(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	leaker := leak(t, s, "leak", 300, addr)
	idle := testchild.Start(t, testchild.Spec{Mode: "idle"})
	tg := []Target{target("leaker", leaker.PID), target("idle", idle.PID)}
	s.Scan(tg)
	if r := s.Scan(tg)[0]; r.CloseWait != 300 {
		t.Fatalf("leaker shows %d persistent sockets, want 300", r.CloseWait)
	}
	st := s.Stats()
	if st.FDWalks != 1 || st.FDTables != 2 {
		t.Errorf("walks %d reading %d fd tables, want 1 walk of 2 (idle first, then the leaker)", st.FDWalks, st.FDTables)
	}
	if st.Readlinks < 300 {
		t.Errorf("%d readlinks for 300 sockets", st.Readlinks)
	}
}

// TestOwnerWalkTopsFirst: the owner holds the most fds, its CLOSE_WAIT
// sockets its newest fds. The walk reads the top of every table before
// the rest of any, so it finds them at the top of the owner's after the
// tops of the others, without reading any table whole.
func TestOwnerWalkTopsFirst(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	a := testchild.Start(t, testchild.Spec{Mode: "idle", Env: []string{testchild.HoldFDsEnv + "=2000"}})
	b := testchild.Start(t, testchild.Spec{Mode: "idle", Env: []string{testchild.HoldFDsEnv + "=3000"}})
	h := testchild.Start(t, testchild.Spec{Mode: "leak", N: 3, Addr: addr, Env: []string{testchild.HoldFDsEnv + "=5000"}})
	testchild.WaitFor(t, "CLOSE_WAIT sockets", func() bool { return len(closeWaitTo(t, s.reader, 0, addr)) >= 3 })
	tg := []Target{target("a", a.PID), target("b", b.PID), target("leaker", h.PID)}
	s.Scan(tg)
	res := s.Scan(tg)
	if ev := res[2].Verdict; ev == nil || ev.CloseWait != 3 || ev.Samples[0].PID != h.PID {
		t.Fatalf("leaker verdict %+v, want 3 sockets of pid %d", ev, h.PID)
	}
	st := s.Stats()
	if top := 3 * (topFDs + 3); st.FDWalks != 1 || st.FDTables != 3 || st.Readlinks > top {
		t.Errorf("walks %d, fd tables %d, readlinks %d; want 1 walk of the tops of 3 tables, at most %d readlinks",
			st.FDWalks, st.FDTables, st.Readlinks, top)
	}
}

// TestOwnerWalkReadsTheRest: a process holding a persistent CLOSE_WAIT
// socket below the top of its table (it opened many fds after it) is
// still found: the walk reads the rest of each table after the tops.
func TestOwnerWalkReadsTheRest(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testchild.WaitFor(t, "a CLOSE_WAIT socket", func() bool { return len(closeWaitTo(t, s.reader, 0, addr)) == 1 })
	// The test process itself holds it (a low fd), then 500 more fds.
	for range 500 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	tg := []Target{target("self", os.Getpid())}
	s.Scan(tg)
	if r := s.Scan(tg)[0]; r.CloseWait != 1 {
		t.Fatalf("CloseWait %d, want 1: the socket below the top was not found", r.CloseWait)
	}
	if st := s.Stats(); st.Readlinks <= topFDs+1 {
		t.Errorf("%d readlinks: the table was not read below its top", st.Readlinks)
	}
}

// TestOwnerMarks: a process whose table was read whole is cleared of the
// sockets in CLOSE_WAIT then, while its fd count does not rise. A new
// process is read (it may have inherited them), the others are not; a
// socket newer than the marks has everyone read again.
func TestOwnerMarks(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	leak(t, s, "leak", 3, addr) // nobody's target
	a := testchild.Start(t, testchild.Spec{Mode: "idle"})
	b := testchild.Start(t, testchild.Spec{Mode: "idle"})
	tg := []Target{target("a", a.PID), target("b", b.PID)}
	want := func(walks, tables int) {
		t.Helper()
		if r := s.Scan(tg); r[0].Verdict != nil || r[1].Verdict != nil {
			t.Fatalf("foreign sockets counted: %+v", r)
		}
		if st := s.Stats(); st.FDWalks != walks || st.FDTables != tables {
			t.Fatalf("walks %d reading %d fd tables, want %d reading %d", st.FDWalks, st.FDTables, walks, tables)
		}
	}
	want(0, 0) // nothing persistent yet
	want(1, 2)
	want(1, 2)
	c := testchild.Start(t, testchild.Spec{Mode: "idle"})
	tg = append(tg, target("c", c.PID))
	want(2, 3) // c alone is read, though it cannot be judged yet: "nobody's" holds for c too
	want(2, 3)
	leak(t, s, "leak", 4, addr) // 1 more socket, newer than every mark
	want(2, 3)
	want(3, 6)
	want(3, 6)
}

// TestOwnerWalkSparesDecided: a target alone in its cgroup leaks as many
// sockets as its threshold, which its cgroup id gives it, while another
// process leaks too. The verdict is decided by the id: its fd table is
// not read for the other process's sockets.
func TestOwnerWalkSparesDecided(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	leak(t, s, "leak", 3, addr) // in the test's own cgroup
	h, g := bigLeaker(t, s, 2000, 2, addr)
	tg := []Target{cgroupTarget(t, "svc", h.PID, g)} // not CgroupOnly
	tg[0].Policy.CloseWait.Threshold = 2
	s.Scan(tg)
	for range 3 {
		if r := s.Scan(tg)[0]; r.Verdict == nil || r.CloseWait != 2 {
			t.Fatalf("result %+v, want a verdict on the 2 sockets of its cgroup", r)
		}
	}
	if st := s.Stats(); st.FDWalks != 0 || st.Readlinks != 0 {
		t.Errorf("walks %d, readlinks %d: the decided target's table was read", st.FDWalks, st.Readlinks)
	}
	// Under its threshold, the same target is read once for the others.
	s2 := newTestScanner(t, ReaderNetlink, addr)
	tg[0].Policy.CloseWait.Threshold = 3
	s2.Scan(tg)
	if r := s2.Scan(tg)[0]; r.Verdict != nil {
		t.Fatalf("verdict %+v under the threshold", r.Verdict)
	}
	if st := s2.Stats(); st.FDWalks != 1 || st.FDTables != 1 {
		t.Errorf("walks %d reading %d tables, want 1 reading its own", st.FDWalks, st.FDTables)
	}
}
