//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// freePort returns a loopback TCP address nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// activationSpec is a helper HTTP server (testchild's activation mode)
// on a socket resreap holds at addr, restarted by surge, ready by
// READY=1, draining on TERM.
func activationSpec(name, mode, addr string, env ...string) config.ChildSpec {
	spec := helperSpec(name, mode, append([]string{testchild.ReadyEnv + "=notify"}, env...)...)
	spec.Listen = []config.ListenSpec{{Name: "http", Address: addr, Backlog: 1024}}
	spec.Pass = config.PassSystemd
	spec.RestartMode = config.RestartSurge
	spec.Ready = config.ReadySpec{Notify: true, Timeout: 2 * time.Second, Interval: 100 * time.Millisecond}
	spec.StartTimeout = 30 * time.Second
	spec.Stop = config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGTERM, Wait: 20 * time.Second}}, KillWait: 10 * time.Second}
	return spec
}

// loadClient sends GETs to one address from a few goroutines, with
// keep-alive, and counts what came back: each answer's "hello <pid>"
// names the generation that served it.
type loadClient struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	pids       map[string]int
	errs       []string
	stop       chan struct{}
	wg         sync.WaitGroup
}

// startLoad starts the client against addr until the test ends (or stop).
// Its loop is bounded in time: a minute at most.
func startLoad(t *testing.T, addr string, workers int) *loadClient {
	l := &loadClient{pids: map[string]int{}, stop: make(chan struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: workers, Proxy: nil}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	end := time.Now().Add(time.Minute)
	for range workers {
		l.wg.Go(func() {
			for time.Now().Before(end) {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get("http://" + addr + "/")
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					l.fail(fmt.Sprintf("status %d, %v", resp.StatusCode, err))
					continue
				}
				l.ok.Add(1)
				l.mu.Lock()
				l.pids[strings.TrimPrefix(strings.TrimSpace(string(body)), "hello ")]++
				l.mu.Unlock()
			}
		})
	}
	t.Cleanup(func() { l.end(); tr.CloseIdleConnections() })
	return l
}

func (l *loadClient) fail(why string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, why)
	}
	l.mu.Unlock()
}

// end stops the client and waits for its goroutines.
func (l *loadClient) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// servedBy returns how many answers each PID gave.
func (l *loadClient) servedBy() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.pids)
}

// waitServed waits until pid has answered at least n more requests.
func (l *loadClient) waitServed(t *testing.T, pid, n int) {
	t.Helper()
	key := strconv.Itoa(pid)
	start := l.servedBy()[key]
	testchild.WaitFor(t, fmt.Sprintf("%d answers from pid %d", n, pid), func() bool { return l.servedBy()[key] >= start+n })
}

// A server under steady load restarted three times each by an operator,
// by a reload and by a health verdict (a CLOSE_WAIT leak on connections
// accepted on the shared listener), all in surge mode: no request fails,
// each restart is a surge, and every generation served.
func TestSurgeRestartsUnderLoad(t *testing.T) {
	testchild.NeedRoot(t)
	cgrouptest.Need(t)
	addr := freePort(t)
	spec := activationSpec("web", "activation", addr)
	spec.Health.Policy.CloseWait.Disabled = false
	spec.Health.Policy.CloseWait.Threshold = 2
	spec.Health.Policy.CloseWait.Persist = 2
	spec.Health.Interval = 200 * time.Millisecond
	spec.Health.VetoCooldown = time.Millisecond
	cfg := cgroupConfig(t, config.CgroupAuto, spec)
	h := startConfig(t, leftoverChecked(t, cfg), Options{})
	st := h.waitState(t, "web", Running, 30*time.Second)
	load := startLoad(t, addr, 4)
	load.waitServed(t, st.PID, 20)
	ctx := context.Background()
	pid := st.PID
	next := func(what string) {
		t.Helper()
		testchild.WaitFor(t, what, func() bool {
			s := h.sup.Status()[0]
			return s.State == Running && s.PID != pid && s.PID != 0
		})
		waitGone(t, pid, 30*time.Second)
		pid = h.sup.Status()[0].PID
		load.waitServed(t, pid, 20)
	}
	for i := range 3 {
		if _, _, err := h.sup.RestartChild(ctx, "web", 30*time.Second); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		next("operator restart " + strconv.Itoa(i))
	}
	for i := range 3 {
		changed := *cfg
		s := activationSpec("web", "activation", addr, "ROUND="+strconv.Itoa(i))
		s.Health = spec.Health
		changed.Children = []config.ChildSpec{s}
		rep, err := h.sup.Reload(ctx, &changed)
		if err != nil || len(rep.Restarted) != 1 {
			t.Fatalf("reload %d: %v, %+v", i, err, rep)
		}
		next("reload " + strconv.Itoa(i))
	}
	for i := range 3 {
		leakOn(t, addr, 3)
		next("health restart " + strconv.Itoa(i))
	}
	load.end()
	if n := load.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed: %q", n, n+load.ok.Load(), load.errs)
	}
	if served := load.servedBy(); len(served) != 10 {
		t.Errorf("served by %d generations (%v), want 10", len(served), served)
	}
	surges := func(recs []history.Record) int {
		n := 0
		for _, r := range recs {
			if r.Child == "web" && r.Event == history.EventRestart && strings.HasPrefix(r.Message, "surge: pid") {
				n++
			}
		}
		return n
	}
	h.hist.waitFor(t, 30*time.Second, "9 surge restarts", func(recs []history.Record) bool { return surges(recs) >= 9 })
	unhealthy := h.hist.matching("web", history.EventUnhealthy)
	if len(unhealthy) < 3 || unhealthy[0].Reason != history.ReasonCloseWait || unhealthy[0].Evidence.CloseWait < 2 {
		t.Errorf("unhealthy records %+v, want 3 close_wait verdicts", unhealthy)
	}
}

// A leak on connections accepted on the listener resreap holds is the
// child's: those sockets carry the cgroup id of the child's sockets leaf,
// which its health target has, so it is found with no fd table read.
// While two generations overlap (a surge), such sockets are attributed
// by the owner walk to the generation that holds them: the new one is
// not blamed for the old one's leak.
func TestSharedListenerLeakAttribution(t *testing.T) {
	testchild.NeedRoot(t)
	cgrouptest.Need(t)
	addr := freePort(t)
	spec := activationSpec("web", "activation", addr)
	spec.Health.Policy.CloseWait.Disabled = false
	spec.Health.Policy.CloseWait.Threshold = 2
	spec.Health.Policy.CloseWait.Persist = 2
	spec.Health.Interval = 200 * time.Millisecond
	spec.Health.Observe = map[health.Reason]bool{health.ReasonCloseWait: true} // judged, not restarted
	var tables atomic.Int64
	h := startConfig(t, leftoverChecked(t, cgroupConfig(t, config.CgroupAuto, spec)), Options{OnScan: func(r ScanReport) { tables.Add(int64(r.FDTables)) }})
	st := h.waitState(t, "web", Running, 30*time.Second)
	leakOn(t, addr, 3)
	recs := h.hist.waitMatching(t, 1, "web", history.EventWouldRestart)
	if ev := recs[0].Evidence; recs[0].PID != st.PID || ev == nil || ev.CloseWait != 3 {
		t.Errorf("verdict %+v (evidence %+v), want 3 CLOSE_WAIT of pid %d", recs[0], ev, st.PID)
	}
	if n := tables.Load(); n != 0 {
		t.Errorf("%d fd tables read: the leak should be found by the sockets leaf's cgroup id", n)
	}
	// A surge: the new generation holds none of the leaked sockets, and
	// after the old one is stopped they are gone with it.
	if _, _, err := h.sup.RestartChild(context.Background(), "web", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	now, surged := h.sup.Status()[0], time.Now()
	testchild.WaitFor(t, "two scans of the new generation", func() bool {
		s := h.sup.Status()[0]
		return len(s.Health.PIDs) > 0 && s.Health.PIDs[0] == now.PID && s.HealthAt.After(surged.Add(2*spec.Health.Interval))
	})
	if r := h.sup.Status()[0].Health; r.CloseWaitNow != 0 || r.Verdict != nil {
		t.Errorf("new generation's health %+v, want no CLOSE_WAIT: the old one held them", r)
	}
}

// leakOn makes n connections to the helper's /hold at addr, which keeps
// them, and closes its end: n CLOSE_WAIT sockets accepted on the shared
// listener.
func leakOn(t *testing.T, addr string, n int) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(testchild.Timeout)) //nolint:errcheck // a conn supports deadlines
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// A new generation that never becomes ready is stopped after
// start_timeout; the old one kept serving throughout, and the failed
// surge is recorded as a failed start.
func TestSurgeNotReadyKeepsOld(t *testing.T) {
	testchild.NeedRoot(t)
	cgrouptest.Need(t)
	addr := freePort(t)
	spec := activationSpec("web", "activation", addr)
	cfg := cgroupConfig(t, config.CgroupAuto, spec)
	h := startConfig(t, leftoverChecked(t, cfg), Options{})
	st := h.waitState(t, "web", Running, 30*time.Second)
	load := startLoad(t, addr, 2)
	load.waitServed(t, st.PID, 20)
	bad := activationSpec("web", "activation", addr, testchild.ReadyEnv+"=never")
	bad.StartTimeout = time.Second
	changed := *cfg
	changed.Children = []config.ChildSpec{bad}
	if _, err := h.sup.Reload(context.Background(), &changed); err != nil {
		t.Fatal(err)
	}
	recs := h.hist.waitFor(t, 30*time.Second, "a failed surge", func(recs []history.Record) bool {
		for _, r := range recs {
			if r.Event == history.EventStart && r.Reason == history.ReasonNotReady {
				return true
			}
		}
		return false
	})
	var failedPID int
	for _, r := range recs {
		if r.Event == history.EventStart && r.Reason == history.ReasonNotReady {
			failedPID = r.PID
			if !strings.Contains(r.Message, "keeps serving") {
				t.Errorf("record %+v, want it to say the old generation keeps serving", r)
			}
		}
	}
	waitGone(t, failedPID, 30*time.Second)
	load.waitServed(t, st.PID, 20)
	load.end()
	now := h.sup.Status()[0]
	if now.State != Running || now.PID != st.PID || now.Failures != 1 {
		t.Errorf("status %+v, want still Running as pid %d with 1 failure", now, st.PID)
	}
	if n := load.failed.Load(); n != 0 {
		t.Errorf("%d requests failed: %q", n, load.errs)
	}
	if served := load.servedBy(); served[strconv.Itoa(failedPID)] != 0 || len(served) != 1 {
		t.Errorf("served by %v, want only the old pid %d", served, st.PID)
	}
}

// A server that hands over to its successor (tableflip: it forks it
// with the sockets, the successor sends MAINPID= and READY=1, the old one
// drains and exits) is followed, not restarted: the child stays Running
// with the successor's PID, no request fails, and a stop then stops the
// successor.
func TestHandOverToSuccessor(t *testing.T) {
	testchild.NeedRoot(t)
	cgrouptest.Need(t)
	addr := freePort(t)
	spec := activationSpec("flip", "tableflip", addr)
	cfg := cgroupConfig(t, config.CgroupAuto, spec)
	h := startConfig(t, leftoverChecked(t, cfg), Options{})
	st := h.waitState(t, "flip", Running, 30*time.Second)
	load := startLoad(t, addr, 2)
	load.waitServed(t, st.PID, 20)
	if err := h.sup.SignalChild(context.Background(), "flip", unix.SIGUSR2, true); err != nil {
		t.Fatal(err)
	}
	testchild.WaitFor(t, "the successor as the main process", func() bool {
		s := h.sup.Status()[0]
		return s.PID != st.PID && s.PID != 0
	})
	waitGone(t, st.PID, 30*time.Second)
	succ := h.sup.Status()[0]
	load.waitServed(t, succ.PID, 20)
	load.end()
	if succ.State != Running || succ.Restarts != 0 || !alive(succ.PID) {
		t.Errorf("status %+v, want Running with the live successor, no restart", succ)
	}
	if n := load.failed.Load(); n != 0 {
		t.Errorf("%d requests failed: %q", n, load.errs)
	}
	if rec := h.hist.matching("flip", history.EventExit); len(rec) != 1 || !strings.Contains(rec[0].Message, "handed over to pid "+strconv.Itoa(succ.PID)) {
		t.Errorf("exit records %+v, want one hand-over to %d", rec, succ.PID)
	}
	rep, err := h.sup.StopChild(context.Background(), "flip")
	if err != nil || rep == nil || rep.PID != succ.PID {
		t.Fatalf("stop: %+v, %v; want the successor %d stopped", rep, err, succ.PID)
	}
	waitGone(t, succ.PID, 30*time.Second)
	if s := h.sup.Status()[0]; s.State != Stopped {
		t.Errorf("state %s after stop", s.State)
	}
}

// resreap holds the socket while the child is stopped (connections
// wait in the backlog, none is refused), and closes it at shutdown: the
// port refuses, the unix socket's file is gone, and no cgroup is left
// (leftoverChecked).
func TestSocketsHeldAndClosed(t *testing.T) {
	testchild.NeedRoot(t)
	cgrouptest.Need(t)
	addr := freePort(t)
	path := t.TempDir() + "/web.sock"
	spec := activationSpec("web", "activation", addr)
	spec.RestartMode = config.RestartStopStart
	spec.Listen = append(spec.Listen, config.ListenSpec{Name: "local", Address: "unix:" + path, Backlog: 16})
	h := startConfig(t, leftoverChecked(t, cgroupConfig(t, config.CgroupAuto, spec)), Options{})
	h.waitState(t, "web", Running, 30*time.Second)
	if _, err := h.sup.StopChild(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	// Stopped: the kernel still completes connections into the backlog.
	for _, a := range [][2]string{{"tcp", addr}, {"unix", path}} {
		c, err := net.Dial(a[0], a[1])
		if err != nil {
			t.Errorf("dial %s while the child is stopped: %v, want it queued", a[1], err)
			continue
		}
		c.Close()
	}
	h.stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts after shutdown", addr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("unix socket file after shutdown: %v", err)
	}
}

// A successor named by pid_file (nginx's binary upgrade writes its new
// master's PID there) is followed like one that sends MAINPID=.
func TestHandOverByPidFile(t *testing.T) {
	testchild.NeedRoot(t)
	cgrouptest.Need(t)
	addr := freePort(t)
	pidFile := t.TempDir() + "/flip.pid"
	spec := activationSpec("flip", "tableflip", addr, testchild.SuccessorPIDFileEnv+"="+pidFile)
	spec.PidFile = pidFile
	h := startConfig(t, leftoverChecked(t, cgroupConfig(t, config.CgroupAuto, spec)), Options{})
	st := h.waitState(t, "flip", Running, 30*time.Second)
	if err := h.sup.SignalChild(context.Background(), "flip", unix.SIGUSR2, true); err != nil {
		t.Fatal(err)
	}
	testchild.WaitFor(t, "the successor as the main process", func() bool {
		s := h.sup.Status()[0]
		return s.PID != st.PID && s.PID != 0
	})
	waitGone(t, st.PID, 30*time.Second)
	succ := h.sup.Status()[0]
	data, _ := os.ReadFile(pidFile)
	if succ.State != Running || strings.TrimSpace(string(data)) != strconv.Itoa(succ.PID) || !alive(succ.PID) {
		t.Errorf("status %+v, pid file %q: want Running as the live successor it names", succ, data)
	}
}

// A reload that moves the listener to another address binds the new one
// for the new generation and closes the old one with the old generation.
func TestReloadRebindsListener(t *testing.T) {
	testchild.NeedRoot(t)
	cgrouptest.Need(t)
	before, after := freePort(t), freePort(t)
	cfg := cgroupConfig(t, config.CgroupAuto, activationSpec("web", "activation", before))
	h := startConfig(t, leftoverChecked(t, cfg), Options{})
	h.waitState(t, "web", Running, 30*time.Second)
	changed := *cfg
	changed.Children = []config.ChildSpec{activationSpec("web", "activation", after)}
	if rep, err := h.sup.Reload(context.Background(), &changed); err != nil || len(rep.Restarted) != 1 || rep.Changes["web"][0] != "listen" {
		t.Fatalf("reload: %+v, %v", rep, err)
	}
	load := startLoad(t, after, 1)
	load.waitServed(t, h.sup.Status()[0].PID, 5)
	load.end()
	if c, err := net.Dial("tcp", before); err == nil {
		c.Close()
		t.Errorf("%s still accepts after the reload moved the listener", before)
	}
}

// Without cgroups resreap binds the sockets itself, tells generations
// apart by PID and process group for READY=1, and surges as with them.
func TestSurgeWithoutCgroups(t *testing.T) {
	addr := freePort(t)
	h := startConfig(t, cgroupConfig(t, config.CgroupOff, activationSpec("web", "activation", addr)), Options{})
	st := h.waitState(t, "web", Running, 30*time.Second)
	load := startLoad(t, addr, 2)
	load.waitServed(t, st.PID, 20)
	for i := range 2 {
		if _, _, err := h.sup.RestartChild(context.Background(), "web", 30*time.Second); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		now := h.sup.Status()[0]
		waitGone(t, st.PID, 30*time.Second)
		load.waitServed(t, now.PID, 20)
		st = now
	}
	load.end()
	if n := load.failed.Load(); n != 0 {
		t.Errorf("%d requests failed: %q", n, load.errs)
	}
}
