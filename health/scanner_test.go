//go:build linux

package health

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/testchild"
)

var readerKinds = []string{ReaderNetlink, ReaderProc, ReaderBPF}

// newTestScanner returns a Scanner with the reader of kind. With only set,
// the scanner sees just the sockets whose foreign endpoint is one of only:
// other processes of a shared host (parallel test runs included) may hold
// persistent CLOSE_WAIT sockets of their own, which would rightly cost an
// fd walk and spoil the walk counts asserted here.
func newTestScanner(tb testing.TB, kind string, only ...string) *Scanner {
	tb.Helper()
	r, err := NewReader(kind, "", zerolog.Nop())
	testchild.Need(tb, fmt.Sprintf("the %s socket reader (%v)", kind, err), err == nil)
	var sr SocketReader = r
	if len(only) > 0 {
		f := &onlyRemotes{SocketReader: r}
		for _, a := range only {
			f.remotes = append(f.remotes, netip.MustParseAddrPort(a))
		}
		sr = f
	}
	s, err := NewScanner(ScannerOptions{SocketReader: sr, Log: zerolog.New(zerolog.NewTestWriter(tb))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if s.Reader() != kind {
		tb.Fatalf("Reader() = %q, want %q", s.Reader(), kind)
	}
	return s
}

// onlyRemotes filters a reader down to some foreign endpoints.
type onlyRemotes struct {
	SocketReader
	remotes []netip.AddrPort
	out     []Socket
}

func (f *onlyRemotes) CloseWait(pid int) ([]Socket, error) {
	socks, err := f.SocketReader.CloseWait(pid)
	f.out = f.out[:0]
	for _, s := range socks {
		if slices.Contains(f.remotes, s.Tuple.Remote) {
			f.out = append(f.out, s)
		}
	}
	return f.out, err
}

// closeWaitTo returns the CLOSE_WAIT sockets of the supervisor's namespace
// (or pid's) whose foreign endpoint is remote.
func closeWaitTo(tb testing.TB, r SocketReader, pid int, remote string) []Socket {
	tb.Helper()
	socks, err := r.CloseWait(pid)
	if err != nil {
		tb.Fatal(err)
	}
	want := netip.MustParseAddrPort(remote)
	var out []Socket
	for _, s := range socks {
		if s.Tuple.Remote == want {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Socket) int { return a.Tuple.Local.Compare(b.Tuple.Local) })
	return out
}

// leak starts a helper leaking n sockets to addr and waits until the
// kernel shows all of them in CLOSE_WAIT.
func leak(tb testing.TB, s *Scanner, mode string, n int, addr string) *testchild.Child {
	tb.Helper()
	h := testchild.Start(tb, testchild.Spec{Mode: mode, N: n, Addr: addr})
	testchild.WaitFor(tb, "CLOSE_WAIT sockets", func() bool { return len(closeWaitTo(tb, s.reader, 0, addr)) >= n })
	return h
}

func target(name string, pid int) Target {
	return Target{Name: name, PID: pid, Policy: DefaultPolicy()}
}

func TestScanCloseWaitLeak(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			addr := testchild.ClosingListener(t, "127.0.0.1:0")
			s := newTestScanner(t, kind, addr)
			h := leak(t, s, "leak", 3, addr)
			tg := []Target{target("web", h.PID)}

			r := s.Scan(tg)[0]
			if r.Verdict != nil || r.CloseWait != 0 || s.Stats().FDWalks != 0 {
				t.Fatalf("first scan: %+v, walks %d; want healthy without walk", r, s.Stats().FDWalks)
			}
			r = s.Scan(tg)[0]
			ev := r.Verdict
			if ev == nil || ev.Reason != ReasonCloseWait {
				t.Fatalf("second scan: verdict %+v, want close_wait", ev)
			}
			if r.CloseWait != 3 || ev.CloseWait != 3 || ev.Threshold != 2 || len(ev.Samples) != 3 {
				t.Errorf("evidence %+v", ev)
			}
			if ev.ByForeign[addr] != 3 {
				t.Errorf("by foreign %v, want %s×3", ev.ByForeign, addr)
			}
			for _, smp := range ev.Samples {
				if smp.PID != h.PID || smp.Tuple.Remote.String() != addr {
					t.Errorf("sample %+v", smp)
				}
			}
			if !slices.IsSortedFunc(ev.Samples, compareSamples) {
				t.Error("samples not sorted")
			}
			if ev.FDs == nil || ev.FDs.PID != h.PID || ev.FDs.Open == 0 {
				t.Errorf("fds %+v", ev.FDs)
			}
			// Owners are cached: further scans do not walk again.
			walks := s.Stats().FDWalks
			for range 3 {
				if r := s.Scan(tg)[0]; r.Verdict == nil {
					t.Fatal("verdict lost")
				}
			}
			if s.Stats().FDWalks != walks {
				t.Errorf("fd walks %d -> %d with cached owners", walks, s.Stats().FDWalks)
			}
			// A restart forgets persistence: the sockets count afresh.
			s.Forget("web")
			if r := s.Scan(tg)[0]; r.Verdict != nil {
				t.Errorf("verdict right after Forget: %+v", r.Verdict)
			}
			if r := s.Scan(tg)[0]; r.Verdict == nil {
				t.Error("no verdict two scans after Forget")
			}
		})
	}
}

func TestScanLeakClosedBeforeSecondScan(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			addr := testchild.ClosingListener(t, "127.0.0.1:0")
			s := newTestScanner(t, kind, addr)
			h := leak(t, s, "leak", 4, addr)
			tg := []Target{target("web", h.PID)}
			s.Scan(tg)
			h.Send(t, "close")
			h.Expect(t, "closed")
			for range 3 {
				if r := s.Scan(tg)[0]; r.Verdict != nil || r.CloseWait != 0 {
					t.Fatalf("closed sockets counted: %+v", r)
				}
			}
			if w := s.Stats().FDWalks; w != 0 {
				t.Errorf("%d fd walks without a persistent socket", w)
			}
		})
	}
}

func TestScanIgnoredEndpoint(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			addr := testchild.ClosingListener(t, "127.0.0.1:0")
			s := newTestScanner(t, kind, addr)
			h := leak(t, s, "leak", 3, addr)
			ign, err := ParseIgnore([]string{addr})
			if err != nil {
				t.Fatal(err)
			}
			tg := target("web", h.PID)
			tg.Policy.CloseWait.Ignore = ign
			for range 4 {
				if r := s.Scan([]Target{tg})[0]; r.Verdict != nil {
					t.Fatalf("ignored endpoint counted: %+v", r.Verdict)
				}
			}
			if w := s.Stats().FDWalks; w != 0 {
				t.Errorf("%d fd walks for ignored sockets", w)
			}
		})
	}
}

func TestScanIPv6(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			s := newTestScanner(t, kind)
			addr := testchild.ClosingListener(t, "[::1]:0")
			h := leak(t, s, "leak", 2, addr)
			tg := []Target{target("v6", h.PID)}
			s.Scan(tg)
			r := s.Scan(tg)[0]
			if r.Verdict == nil || r.Verdict.ByForeign[addr] != 2 {
				t.Fatalf("verdict %+v, want 2 sockets to %s", r.Verdict, addr)
			}
		})
	}
}

func TestScanDescendants(t *testing.T) {
	s := newTestScanner(t, ReaderNetlink)
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	h := leak(t, s, "parent", 3, addr) // h.PID is the grandchild's
	parent := h.Cmd.Process.Pid
	only := target("wrapper", parent)
	all := only
	all.Name, all.Descendants = "tree", true
	s.Scan([]Target{only, all})
	res := s.Scan([]Target{only, all})
	if res[0].Verdict != nil {
		t.Errorf("parent alone judged for its child's sockets: %+v", res[0].Verdict)
	}
	if !slices.Contains(res[1].PIDs, h.PID) || res[1].PIDs[0] != parent {
		t.Errorf("PIDs %v, want %d then %d", res[1].PIDs, parent, h.PID)
	}
	ev := res[1].Verdict
	if ev == nil || ev.CloseWait != 3 || ev.Samples[0].PID != h.PID {
		t.Fatalf("verdict %+v, want 3 sockets of pid %d", ev, h.PID)
	}
}

func TestScanFDExhaustion(t *testing.T) {
	s := newTestScanner(t, ReaderNetlink)
	h := testchild.Start(t, testchild.Spec{Mode: "fds", Limit: 64})
	tg := []Target{target("fds", h.PID)}
	r := s.Scan(tg)[0]
	if r.Verdict != nil {
		t.Fatalf("verdict after one scan: %+v", r.Verdict)
	}
	if r.FDs.PID != h.PID || r.FDs.Limit != 64 || r.FDs.Open < 58 {
		t.Errorf("fds %+v, want >= 58 of 64", r.FDs)
	}
	r = s.Scan(tg)[0]
	if r.Verdict == nil || r.Verdict.Reason != ReasonFDExhaustion || r.Verdict.FDs.Limit != 64 {
		t.Fatalf("verdict %+v, want fd_exhaustion", r.Verdict)
	}
	off := tg[0]
	off.Name = "off"
	off.Policy.FDs.MaxRatio = 0
	for range 3 {
		if r := s.Scan([]Target{off})[0]; r.Verdict != nil {
			t.Errorf("ratio off: verdict %+v", r.Verdict)
		}
	}
}

// TestNoWalkForForeignLeak: a process that is not a target holds
// persistent CLOSE_WAIT sockets. The scanner walks the targets' fd tables
// once to learn the sockets are not theirs, then never again.
func TestNoWalkForForeignLeak(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			addr := testchild.ClosingListener(t, "127.0.0.1:0")
			s := newTestScanner(t, kind, addr)
			leak(t, s, "leak", 3, addr)
			idle := testchild.Start(t, testchild.Spec{Mode: "idle"})
			tg := []Target{target("idle", idle.PID)}
			s.Scan(tg)
			if w := s.Stats().FDWalks; w != 0 {
				t.Fatalf("%d walks before anything persisted", w)
			}
			for range 10 {
				if r := s.Scan(tg)[0]; r.Verdict != nil {
					t.Fatalf("foreign sockets counted: %+v", r.Verdict)
				}
			}
			if w := s.Stats().FDWalks; w != 1 {
				t.Errorf("%d fd walks over 10 scans, want 1", w)
			}
			// A new owned process may hold those sockets (fds survive
			// fork), so a change of owned PIDs voids the negative cache.
			other := testchild.Start(t, testchild.Spec{Mode: "idle"})
			tg = append(tg, target("other", other.PID))
			s.Scan(tg)
			s.Scan(tg)
			if w := s.Stats().FDWalks; w != 2 {
				t.Errorf("%d fd walks after the owned PIDs changed, want 2", w)
			}
		})
	}
}

func TestScanVanishedTarget(t *testing.T) {
	s := newTestScanner(t, ReaderNetlink)
	h := testchild.Start(t, testchild.Spec{Mode: "idle"})
	h.CloseStdin()
	h.Wait(t)
	r := s.Scan([]Target{target("gone", h.PID)})[0]
	if r.Verdict != nil || r.FDs.PID != 0 {
		t.Errorf("vanished target: %+v", r)
	}
}

func TestScanFDSlope(t *testing.T) {
	now := time.Unix(0, 0)
	s, err := NewScanner(ScannerOptions{Reader: ReaderProc, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tg := []Target{target("self", os.Getpid())}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var r Result
	for range 5 {
		for range 20 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		r = s.Scan(tg)[0]
		now = now.Add(time.Minute)
	}
	// Other goroutines of the test binary may hold a few fds in passing.
	if r.FDs.SlopePerMin < 17 || r.FDs.SlopePerMin > 23 {
		t.Errorf("slope %.1f fds/min, want about 20", r.FDs.SlopePerMin)
	}
}

// The owner lookup reads fd tables only until every wanted socket is found,
// starting with the processes of the sockets' uid: here the leaker (root)
// is found first even though a process of another uid is listed before it.
func TestOwnerWalkStopsWhenFound(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	h := leak(t, s, "leak", 3, addr)
	testchild.NeedRoot(t) // to start a process as nobody
	other := exec.Command("sleep", "600")
	other.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := other.Start(); err != nil {
		t.Fatalf("start a process as nobody: %v", err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })

	tg := []Target{target("other", other.Process.Pid), target("web", h.PID)}
	s.Scan(tg)
	res := s.Scan(tg)
	if res[1].Verdict == nil || res[1].Verdict.CloseWait != 3 {
		t.Fatalf("verdict %+v, want 3 sockets", res[1].Verdict)
	}
	if st := s.Stats(); st.FDWalks != 1 || st.FDTables != 1 {
		t.Errorf("walks %d reading %d fd tables, want 1 walk of 1 table (the owner's)", st.FDWalks, st.FDTables)
	}
}
