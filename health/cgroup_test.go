//go:build linux

package health

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/testchild"
)

// startIn starts a helper inside g (clone3 CLONE_INTO_CGROUP).
func startIn(tb testing.TB, g cgroup.Group, spec testchild.Spec) *testchild.Child {
	tb.Helper()
	f, err := g.OpenFD()
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	spec.CgroupFD = int(f.Fd())
	return testchild.Start(tb, spec)
}

// cgroupTarget is target with g as its cgroup.
func cgroupTarget(tb testing.TB, name string, pid int, g cgroup.Group) Target {
	tb.Helper()
	id, err := g.ID()
	if err != nil {
		tb.Fatal(err)
	}
	t := target(name, pid)
	t.Cgroup, t.CgroupDir = id, g.Dir()
	return t
}

// bigLeaker starts, in a cgroup of its own, a helper holding fds more fds
// and n CLOSE_WAIT sockets to addr, and waits until the kernel shows them.
func bigLeaker(tb testing.TB, s *Scanner, fds, n int, addr string) (*testchild.Child, cgroup.Group) {
	tb.Helper()
	g := cgrouptest.New(tb)
	h := startIn(tb, g, testchild.Spec{Mode: "leak", N: n, Addr: addr, Env: []string{testchild.HoldFDsEnv + "=" + strconv.Itoa(fds)}})
	testchild.WaitFor(tb, "CLOSE_WAIT sockets", func() bool { return len(closeWaitTo(tb, s.reader, 0, addr)) >= n })
	return h, g
}

// A leaker holding 15,000 fds in a cgroup is judged by the cgroup id of
// its sockets: the verdict comes at the second scan, as by fd walk, with
// no fd table read at all.
func TestScanByCgroupReadsNoFDTable(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	h, g := bigLeaker(t, s, 15000, 5, addr)
	tg := []Target{cgroupTarget(t, "web", h.PID, g)}

	r := s.Scan(tg)[0]
	if r.Verdict != nil || r.CloseWait != 0 || r.CloseWaitNow != 5 {
		t.Fatalf("first scan: %+v; want healthy, 5 CLOSE_WAIT now, none persistent", r)
	}
	r = s.Scan(tg)[0]
	ev := r.Verdict
	if ev == nil || ev.Reason != ReasonCloseWait || ev.CloseWait != 5 || r.CloseWait != 5 || r.CloseWaitNow != 5 {
		t.Fatalf("second scan: %+v verdict %+v; want close_wait with 5 sockets", r, ev)
	}
	if !slices.Equal(r.PIDs, []int{h.PID}) {
		t.Errorf("PIDs %v, want the cgroup's only process %d", r.PIDs, h.PID)
	}
	for _, smp := range ev.Samples {
		if smp.PID != 0 || smp.Tuple.Remote.String() != addr || smp.Age <= 0 {
			t.Errorf("sample %+v: want pid 0 (not looked up), remote %s, an age", smp, addr)
		}
	}
	if r.FDs.PID != h.PID || r.FDs.Open < 15000 {
		t.Errorf("fds %+v, want >= 15000 open in %d", r.FDs, h.PID)
	}
	st := s.Stats()
	if st.FDWalks != 0 || st.FDTables != 0 || st.Readlinks != 0 {
		t.Errorf("stats %+v: an fd table was read", st)
	}
	if st.ByCgroup != 10 {
		t.Errorf("ByCgroup %d, want 5 sockets x 2 scans", st.ByCgroup)
	}
}

// CloseWaitNow counts the sockets of the target's cgroup at every scan,
// persistent or not, ignored ones left out; a target without a cgroup
// keeps -1.
func TestCloseWaitNowByCgroup(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	other := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr, other)
	g := cgrouptest.New(t)
	h := startIn(t, g, testchild.Spec{Mode: "leak", N: 3, Addr: addr + "," + other})
	testchild.WaitFor(t, "CLOSE_WAIT sockets", func() bool { return len(closeWaitTo(t, s.reader, 0, other)) == 3 })
	ign, err := ParseIgnore([]string{other})
	if err != nil {
		t.Fatal(err)
	}
	withCg := cgroupTarget(t, "cg", h.PID, g)
	withCg.Policy.CloseWait.Ignore = ign
	withCg.Policy.CloseWait.Persist = 5 // nothing persists during the test
	plain := target("plain", h.PID)
	for scan := range 3 {
		res := s.Scan([]Target{withCg, plain})
		if res[0].CloseWaitNow != 3 || res[0].CloseWait != 0 || res[0].Verdict != nil {
			t.Errorf("scan %d, with a cgroup: %+v; want 3 CLOSE_WAIT now (3 more ignored), none persistent", scan, res[0])
		}
		if res[1].CloseWaitNow != -1 {
			t.Errorf("scan %d, without a cgroup: CloseWaitNow %d, want -1", scan, res[1].CloseWaitNow)
		}
	}
	off := withCg
	off.Name = "off"
	off.Policy.CloseWait.Disabled = true
	if r := s.Scan([]Target{off})[0]; r.CloseWaitNow != -1 {
		t.Errorf("check off: CloseWaitNow %d, want -1", r.CloseWaitNow)
	}
}

// The processes of a target with a cgroup are its cgroup.procs, PID
// first: here a parent and the leaking child it started, whose sockets
// are the target's by cgroup id.
func TestScanCgroupProcs(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	g := cgrouptest.New(t)
	h := startIn(t, g, testchild.Spec{Mode: "parent", N: 2, Addr: addr}) // h.PID is the grandchild's
	testchild.WaitFor(t, "CLOSE_WAIT sockets", func() bool { return len(closeWaitTo(t, s.reader, 0, addr)) == 2 })
	parent := h.Cmd.Process.Pid
	tg := []Target{cgroupTarget(t, "tree", parent, g)}
	s.Scan(tg)
	r := s.Scan(tg)[0]
	if !slices.Equal(r.PIDs, []int{parent, h.PID}) {
		t.Errorf("PIDs %v, want [%d %d]", r.PIDs, parent, h.PID)
	}
	if r.Verdict == nil || r.Verdict.CloseWait != 2 {
		t.Errorf("verdict %+v, want the child's 2 sockets", r.Verdict)
	}
	if st := s.Stats(); st.FDTables != 0 {
		t.Errorf("%d fd tables read", st.FDTables)
	}
}

// Beside a CgroupOnly target, a target without a cgroup is still judged
// by fd walk, and the walk never reads the fd table of the other.
func TestScanMixedWalksOnlyTargetsWithoutCgroup(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	plainAddr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr, plainAddr)
	big, g := bigLeaker(t, s, 15000, 3, addr)
	small := leak(t, s, "leak", 2, plainAddr)
	bigTarget := cgroupTarget(t, "big", big.PID, g)
	bigTarget.CgroupOnly = true
	tg := []Target{bigTarget, target("small", small.PID)}
	s.Scan(tg)
	res := s.Scan(tg)
	if res[0].Verdict == nil || res[0].Verdict.CloseWait != 3 {
		t.Errorf("big: verdict %+v, want 3 sockets by cgroup", res[0].Verdict)
	}
	if ev := res[1].Verdict; ev == nil || ev.CloseWait != 2 || ev.Samples[0].PID != small.PID {
		t.Errorf("small: verdict %+v, want 2 sockets of pid %d", ev, small.PID)
	}
	if st := s.Stats(); st.FDWalks != 1 || st.FDTables != 1 || st.Readlinks >= 1000 {
		t.Errorf("stats %+v: want one walk of the small leaker's table alone", st)
	}
}

// Without cgroup ids (the /proc reader) a target with a cgroup falls back
// to the fd walk of its cgroup's processes, and CloseWaitNow is unknown.
func TestScanCgroupWithoutIDsWalks(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderProc, addr)
	g := cgrouptest.New(t)
	h := startIn(t, g, testchild.Spec{Mode: "leak", N: 3, Addr: addr})
	testchild.WaitFor(t, "CLOSE_WAIT sockets", func() bool { return len(closeWaitTo(t, s.reader, 0, addr)) == 3 })
	tg := []Target{cgroupTarget(t, "web", h.PID, g)}
	s.Scan(tg)
	r := s.Scan(tg)[0]
	if r.Verdict == nil || r.Verdict.CloseWait != 3 || r.Verdict.Samples[0].PID != h.PID {
		t.Fatalf("verdict %+v, want 3 sockets of pid %d", r.Verdict, h.PID)
	}
	if r.CloseWaitNow != -1 {
		t.Errorf("CloseWaitNow %d without cgroup ids, want -1", r.CloseWaitNow)
	}
	if st := s.Stats(); st.FDWalks != 1 || st.ByCgroup != 0 {
		t.Errorf("stats %+v, want one walk and nothing by cgroup", st)
	}
}

// A socket carrying the cgroup id of no target is never looked for in
// the fd tables of CgroupOnly targets: with only such targets, a foreign
// leak costs no walk. A target with a cgroup but not CgroupOnly may hold
// such a socket, so its fd table is read, once: the negative cache keeps
// the answer.
func TestForeignLeakWithCgroups(t *testing.T) {
	for _, only := range []bool{true, false} {
		t.Run(fmt.Sprintf("CgroupOnly=%v", only), func(t *testing.T) {
			addr := testchild.ClosingListener(t, "127.0.0.1:0")
			s := newTestScanner(t, ReaderNetlink, addr)
			leak(t, s, "leak", 3, addr) // in the test's own cgroup
			g := cgrouptest.New(t)
			idle := startIn(t, g, testchild.Spec{Mode: "idle"})
			tg := []Target{cgroupTarget(t, "idle", idle.PID, g)}
			tg[0].CgroupOnly = only
			for range 6 {
				if r := s.Scan(tg)[0]; r.Verdict != nil || r.CloseWaitNow != 0 {
					t.Fatalf("foreign sockets counted: %+v", r)
				}
			}
			want := 1
			if only {
				want = 0
			}
			if st := s.Stats(); st.FDWalks != want || st.FDTables != want {
				t.Errorf("stats %+v: want %d walk of %d table", st, want, want)
			}
		})
	}
}

// A socket made outside the target's cgroup and held inside it (here a
// connection the test makes and hands to a helper in the cgroup, as
// systemd hands a service the listener its connections come from) carries
// the outside cgroup's id. The target finds it by fd walk, unless it is
// CgroupOnly, which promises no such socket.
func TestScanCgroupSocketFromElsewhere(t *testing.T) {
	for _, only := range []bool{false, true} {
		t.Run(fmt.Sprintf("CgroupOnly=%v", only), func(t *testing.T) {
			addr := testchild.ClosingListener(t, "127.0.0.1:0")
			s := newTestScanner(t, ReaderNetlink, addr)
			g := cgrouptest.New(t)
			pid := holdInCgroup(t, g, addr)
			tg := []Target{cgroupTarget(t, "svc", pid, g)}
			tg[0].CgroupOnly = only
			s.Scan(tg)
			r := s.Scan(tg)[0]
			switch {
			case only && r.Verdict != nil:
				t.Errorf("CgroupOnly: verdict %+v, want none (the socket is not looked for)", r.Verdict)
			case !only && (r.Verdict == nil || r.Verdict.CloseWait != 2 || r.Verdict.Samples[0].PID != pid):
				t.Errorf("verdict %+v, want 2 sockets of pid %d found by walk", r.Verdict, pid)
			}
			if r.CloseWaitNow != 0 {
				t.Errorf("CloseWaitNow %d, want 0: no socket carries the target's id", r.CloseWaitNow)
			}
		})
	}
}

// holdInCgroup connects twice to addr (a ClosingListener) from the test
// process, starts an idle helper inside g holding both connections (fds
// 3 and 4), closes the test's copies and waits until both are in
// CLOSE_WAIT. It returns the helper's PID.
func holdInCgroup(t *testing.T, g cgroup.Group, addr string) int {
	t.Helper()
	var files []*os.File
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	cgfd, err := g.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer cgfd.Close()
	cmd := exec.Command(os.Args[0], testchild.Argv("")[1:]...)
	cmd.Env = append(os.Environ(), testchild.Env("idle")...)
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cgfd.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for _, f := range files {
		f.Close()
	}
	r, _ := NewReader(ReaderNetlink, "", zerolog.Nop())
	defer r.Close()
	testchild.WaitFor(t, "2 CLOSE_WAIT sockets", func() bool { return len(closeWaitTo(t, r, 0, addr)) == 2 })
	return cmd.Process.Pid
}

// frozenReader replays one dump: a benchmark of the Scanner's own work,
// without the kernel's walk of the host's socket tables.
type frozenReader struct {
	SocketReader
	socks []Socket
}

func (f *frozenReader) CloseWait(int) ([]Socket, error) { return f.socks, nil }

// scanCost runs op for the benchmark's iterations and reports the CPU
// time (cpu-ns/op) and fd links read by s (readlinks/op) per op.
func scanCost(b *testing.B, s *Scanner, op func()) {
	before, cpu := s.Stats(), cpuTime()
	for b.Loop() {
		op()
	}
	after := s.Stats()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(after.Readlinks-before.Readlinks)/float64(b.N), "readlinks/op")
}

// benchSS runs `ss -tn state close-wait` once per op, the floor a scan is
// compared with: the kernel's filtered dump, formatted, no owners.
// cpu-ns/op is the user+system CPU time of ss alone.
func benchSS(b *testing.B) {
	if _, err := exec.LookPath("ss"); err != nil {
		b.Skip("ss not installed")
	}
	var cpu time.Duration
	for b.Loop() {
		cmd := exec.Command("ss", "-tn", "state", "close-wait")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkScanBigLeaker measures the scans that judge a leaker holding
// 15,000 fds and 5 persistent CLOSE_WAIT sockets, with and without its
// cgroup, when the owners are not known yet (a first verdict, or new
// sockets of a leaker that keeps leaking: the new sockets sit at the top
// of its fd table, which the walk reads first) and once they are. The
// reader is the live netlink one, or "frozen": one dump replayed, which
// leaves the Scanner's own work. RESREAP_BENCH_FDS changes the fd count.
// cpu-ns/op is user+system CPU time of the test process, readlinks/op the
// fd links read. "tick" is one scan of a leaker that leaks one more socket
// per scan: the health tick of the cgroup issue's benchmark, which
// `make bench` runs with 50,000 other sockets on the host beside "ss".
func BenchmarkScanBigLeaker(b *testing.B) {
	b.Run("ss", benchSS)
	fds := 15000
	if v, err := strconv.Atoi(os.Getenv("RESREAP_BENCH_FDS")); err == nil {
		fds = v
	}
	addr := testchild.ClosingListener(b, "127.0.0.1:0")
	live := newTestScanner(b, ReaderNetlink, addr)
	h, g := bigLeaker(b, live, fds, 5, addr)
	frozen, err := NewScanner(ScannerOptions{SocketReader: &frozenReader{SocketReader: live.reader, socks: closeWaitTo(b, live.reader, 0, addr)}})
	if err != nil {
		b.Fatal(err)
	}
	withCg := cgroupTarget(b, "web", h.PID, g)
	withCg.Interval = time.Nanosecond
	plain := withCg
	plain.Cgroup, plain.CgroupDir = 0, ""
	for _, tc := range []struct {
		name string
		s    *Scanner
		t    Target
	}{
		{"netlink/cgroup", live, withCg}, {"netlink/walk", live, plain},
		{"frozen/cgroup", frozen, withCg}, {"frozen/walk", frozen, plain},
	} {
		s, tg := tc.s, []Target{tc.t}
		b.Run("first-verdict/"+tc.name, func(b *testing.B) {
			// Each op: a fresh judgement, two scans (Persist 2), the
			// owners unknown.
			scanCost(b, s, func() {
				s.Forget(tc.t.Name)
				s.Scan(tg)
				if s.Scan(tg)[0].Verdict == nil {
					b.Fatal("no verdict")
				}
			})
		})
		b.Run("tick/"+tc.name, func(b *testing.B) {
			// Each op: one scan of a leaker that keeps leaking, one
			// persistent socket whose owner is not known yet (the
			// newest, at the end of the fd table), the others known.
			s.Forget(tc.t.Name)
			s.Scan(tg)
			v := s.Scan(tg)[0].Verdict
			if v == nil {
				b.Fatal("no verdict")
			}
			newest := v.Samples[0].Inode
			for _, smp := range v.Samples {
				newest = max(newest, smp.Inode)
			}
			scanCost(b, s, func() {
				delete(s.owners.pos, newest)
				if s.Scan(tg)[0].Verdict == nil {
					b.Fatal("no verdict")
				}
			})
		})
		b.Run("steady/"+tc.name, func(b *testing.B) {
			s.Forget(tc.t.Name)
			s.Scan(tg)
			s.Scan(tg)
			b.ReportAllocs()
			scanCost(b, s, func() {
				if s.Scan(tg)[0].Verdict == nil {
					b.Fatal("no verdict")
				}
			})
		})
	}
}

func TestCgroupPIDs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		procs string
		pid   int
		want  []int
	}{
		{"30\n7\n12\n", 12, []int{12, 7, 30}},
		{"30\n7\n12\n", 30, []int{30, 7, 12}},
		{"30\n7\n12\n", 99, []int{7, 12, 30}}, // the main process left: the others remain
		{"5\n", 5, []int{5}},
		{"", 5, nil},
	} {
		if err := os.WriteFile(dir+"/cgroup.procs", []byte(tc.procs), 0o600); err != nil {
			t.Fatal(err)
		}
		have, err := cgroupPIDs(dir, tc.pid, make([]byte, 3)) // a small buffer: numbers straddle reads
		if err != nil || !slices.Equal(have, tc.want) {
			t.Errorf("%q pid %d: have %v (%v), want %v", tc.procs, tc.pid, have, err, tc.want)
		}
	}
	if _, err := cgroupPIDs(dir+"/gone", 1, make([]byte, 16)); err == nil {
		t.Error("missing cgroup: no error")
	}
}

// A socket made in another cgroup whose id is among the target's Cgroups
// (the cgroup its listening sockets were bound in) is the target's by id,
// with no fd table read, CgroupOnly or not.
func TestScanMoreCgroups(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	s := newTestScanner(t, ReaderNetlink, addr)
	g := cgrouptest.New(t)
	pid := holdInCgroup(t, g, addr) // sockets made in the test's own cgroup
	h, err := cgroup.Detect()
	if err != nil {
		t.Fatal(err)
	}
	own, err := h.OwnGroup()
	if err != nil {
		t.Fatal(err)
	}
	ownID, err := own.ID()
	if err != nil {
		t.Fatal(err)
	}
	tg := []Target{cgroupTarget(t, "svc", pid, g)}
	tg[0].CgroupOnly, tg[0].Cgroups = true, []uint64{ownID}
	s.Scan(tg)
	r := s.Scan(tg)[0]
	if r.Verdict == nil || r.Verdict.CloseWait != 2 || r.CloseWaitNow != 2 {
		t.Errorf("result %+v verdict %+v, want 2 sockets by the second cgroup id", r, r.Verdict)
	}
	if st := s.Stats(); st.FDWalks != 0 || st.ByCgroup != 4 {
		t.Errorf("stats %+v, want no walk and 2 sockets x 2 scans by id", st)
	}
}
