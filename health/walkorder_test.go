//go:build linux

package health

import (
	"math"
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
