//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/cgroup/cgrouptest"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// State machine: corners a config can reach that resreap check accepts.

// No backoff at all, a binary that does not exist and the smallest start
// limit interval: resreap runs on (it used to die of a stack overflow),
// status answers throughout, and each child ends Fatal or keeps backing
// off, as its start limit says.
func TestFaultStateZeroBackoff(t *testing.T) {
	dir := t.TempDir()
	ghost := func(name string, burst int) string {
		return fmt.Sprintf(`
[[child]]
name = %q
command = ["/nonexistent/resreap-fault-ghost"]
backoff = { initial = "0s", max = "0s" }
start_limit = { burst = %d, interval = "1s" }
`, name, burst)
	}
	// ghost3 must end Fatal at its fourth failure; ghost may fail up to
	// 10000 times a second, the most a start limit allows.
	cfg := faultConfig(t, dir, "", ghost("ghost", 10000)+ghost("ghost3", 3))
	r := startRun(t, cfg, runOpts{})
	var took []time.Duration
	var last statusReply
	leaves := 0 // the most child cgroups seen at once
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		last = mustStatus(t, cfg, 10*time.Second)
		took = append(took, last.Took)
		if r.exited() {
			t.Fatalf("resreap exited (%s):\n%s", r.cmd.ProcessState, tail(r.output(), 40))
		}
		leaves = max(leaves, childLeaves(t, r.subtree))
	}
	// A start that never ran leaves no cgroup behind: at most one per
	// child (a start in progress) may exist.
	if leaves > 2 {
		t.Errorf("%d child cgroups at once under %s for 2 children that never ran: each failed start leaves its cgroup", leaves, r.subtree)
	}
	states := map[string]string{}
	restarts := map[string]int{}
	for _, c := range last.Children {
		states[c.Name], restarts[c.Name] = c.State, c.Restarts
	}
	if states["ghost3"] != "fatal" {
		t.Errorf("ghost3 is %s after 5s, want fatal (burst 3 in 1s, no backoff)", states["ghost3"])
	}
	if s := states["ghost"]; s != "fatal" && s != "backoff" && s != "starting" {
		t.Errorf("ghost is %s, want fatal or backing off", s)
	}
	stopTook := r.stop(t, syscall.SIGTERM, 30*time.Second)
	if ws := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 0 {
		t.Errorf("resreap ended with %s", r.cmd.ProcessState)
	}
	t.Logf("zero backoff: ghost %s after %d failed starts, ghost3 %s after %d; %d status calls in 5s (%s); at most %d child cgroups at once; exit on TERM after %s",
		states["ghost"], restarts["ghost"]+1, states["ghost3"], restarts["ghost3"]+1, len(took), quantileText(took), leaves, stopTook.Round(time.Millisecond))
}

// childLeaves counts the child cgroups of the subtree at path (0 without
// one).
func childLeaves(t *testing.T, path string) int {
	t.Helper()
	if path == "" {
		return 0
	}
	h, err := cgroup.Detect()
	if err != nil {
		t.Fatal(err)
	}
	g, err := h.Group(path)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(g.Dir())
	n := 0
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "child-") {
			n++
		}
	}
	return n
}

// SIGHUP while a child is still starting and its dependent waits: the
// reload waits for the start-up, so exactly one process of the dependent
// ever runs, status lists it once, and resreap stop leaves none.
func TestFaultStateReloadDuringStart(t *testing.T) {
	dir := t.TempDir()
	// Unique to this run: another run of the same test on the machine
	// (another checkout, -count) must not add to the count.
	token := "resreap-fault-b-" + filepath.Base(filepath.Dir(dir)) + "-" + filepath.Base(dir)
	cfg := faultConfig(t, dir, "", helperChild("a", "idle")+`start_seconds = "5s"`+"\n"+
		tokenChild("b", token, "idle")+`depends_on = ["a"]`+"\n")
	// Count b's processes from the moment resreap starts.
	stopCount := make(chan struct{})
	var stopOnce sync.Once
	stopCounting := func() { stopOnce.Do(func() { close(stopCount) }) }
	t.Cleanup(stopCounting)
	counted := make(chan int, 1)
	go func() {
		most := 0
		for {
			most = max(most, len(procsWith(token)))
			select {
			case <-stopCount:
				counted <- most
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	r := startRun(t, cfg, runOpts{})
	// From now (the supervisor is setting up) until a has run its 5s, a
	// SIGHUP every 20ms: some land before the start-up begins, the rest
	// while a is starting and b waits for it. (5s, not less: on a loaded
	// machine the control socket may answer a while after a started.)
	var aStart time.Time
	var firstHUP, lastHUP time.Time
	hups := 0
	for deadline := time.Now().Add(30 * time.Second); aStart.IsZero() || time.Since(aStart) < 5*time.Second; hups++ {
		if time.Now().After(deadline) {
			t.Fatalf("a did not start within 30s")
		}
		if err := syscall.Kill(r.pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		lastHUP = time.Now()
		if firstHUP.IsZero() {
			firstHUP = lastHUP
		}
		time.Sleep(20 * time.Millisecond)
		if starts := readHistory(t, dir, history.Filter{Child: "a", Events: []history.Event{history.EventStart}}); len(starts) > 0 {
			aStart = starts[0].Time
		}
	}
	if !firstHUP.Before(aStart.Add(5 * time.Second)) {
		t.Fatalf("no SIGHUP was sent while a was starting (first %s, a started %s)", firstHUP.Format(time.StampMilli), aStart.Format(time.StampMilli))
	}
	waitStatus(t, cfg, running("a", "b"))
	r.waitLogsWhere(t, "the reloads", 1, func(m map[string]any) bool { return m["event"] == "reload" })
	time.Sleep(time.Second) // b runs on; the counter watches
	final := mustStatus(t, cfg, 10*time.Second)
	n := 0
	for _, c := range final.Children {
		if c.Name == "b" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("status lists b %d times: %+v", n, final.Children)
	}
	if code, out := resreap(t, "stop", "b", "-c", cfg); code != 0 {
		t.Fatalf("stop b: exit %d: %s", code, out)
	}
	stopCounting()
	most := <-counted
	left := procsWith(token)
	if most != 1 || len(left) != 0 {
		t.Errorf("at most %d b processes at once (want 1); after stop b: %v", most, left)
	}
	starts := readHistory(t, dir, history.Filter{Child: "b", Events: []history.Event{history.EventStart}})
	if len(starts) != 1 {
		t.Errorf("%d starts of b, want 1", len(starts))
	}
	reloads := r.logsWhere(func(m map[string]any) bool { return m["event"] == "reload" })
	details := map[string]int{}
	for _, m := range reloads {
		details[fmt.Sprint(m["detail"])]++
	}
	t.Logf("%d SIGHUPs, from %s to %s after a's start (%d reloads: %v): at most %d b process at once, %d start of b, status lists b %d time(s), %d b processes after stop b",
		hups, firstHUP.Sub(aStart).Round(time.Millisecond), lastHUP.Sub(aStart).Round(time.Millisecond), len(reloads), details, most, len(starts), n, len(left))
}

// A SIGHUP while resreap itself is still starting (here: held up at its
// control socket's lock, as by a second resreap starting beside it) never
// ends it: it is a reload once resreap runs, or nothing.
func TestFaultStateHUPWhileStarting(t *testing.T) {
	dir := t.TempDir()
	cfg := faultConfig(t, dir, "", helperChild("svc", "idle"))
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "run", "control.sock.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	quickExit(t)
	d := &faultRun{daemon: &daemon{cmd: resreapCmd("run", "-c", cfg, "--log-format", "json"), done: make(chan struct{})}, gate: make(chan struct{})}
	d.readLogNow()
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.pid = d.cmd.Process.Pid
	go d.readLog(stderr, "")
	t.Cleanup(func() {
		lock.Close()
		d.stop(t, syscall.SIGTERM, 60*time.Second)
		d.checkCgroup(t)
	})
	// It has opened its history and waits for the lock before serving.
	d.waitLogsWhere(t, "the history file", 1, func(m map[string]any) bool { return m["message"] == "history file" })
	if err := syscall.Kill(d.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a signal's default action is quick
	lock.Close()
	select {
	case <-d.done:
		t.Fatalf("resreap ended (%s) of a SIGHUP during its start-up:\n%s", d.cmd.ProcessState, tail(d.output(), 20))
	case <-time.After(100 * time.Millisecond):
	}
	waitStatus(t, cfg, running("svc"))
	reloads := len(d.logsWhere(func(m map[string]any) bool { return m["event"] == "reload" }))
	t.Logf("SIGHUP while resreap waited for its control socket: it came up and svc runs (%d reload recorded)", reloads)
}

// start_seconds = "0s" and a child that exits 0 at once, restarted again
// and again: no negative uptime, and no Fatal for clean fast exits.
func TestFaultStateFastCleanExits(t *testing.T) {
	dir := t.TempDir()
	cfg := faultConfig(t, dir, "", `
[[child]]
name = "blink"
command = ["true"]
restart = "always"
start_seconds = "0s"
start_limit = { burst = 3, interval = "1m" }
backoff = { initial = "10ms", max = "20ms" }
`)
	start := time.Now()
	r := startRun(t, cfg, runOpts{})
	var recs []history.Record
	testchild.WaitFor(t, "50 exits", func() bool {
		recs = readHistory(t, dir, history.Filter{Child: "blink"})
		n := 0
		for _, rec := range recs {
			if rec.Event == history.EventExit {
				n++
			}
		}
		return n >= 50
	})
	cycles := time.Since(start)
	st := mustStatus(t, cfg, 10*time.Second)
	r.stop(t, syscall.SIGTERM, 30*time.Second)
	recs = readHistory(t, dir, history.Filter{Child: "blink"})
	var uptimes []time.Duration
	exits := 0
	for _, rec := range recs {
		switch {
		case rec.Event == history.EventFatal:
			t.Errorf("fatal: %s", rec.Message)
		case rec.Uptime < 0:
			t.Errorf("negative uptime %s in %s of pid %d", time.Duration(rec.Uptime), rec.Event, rec.PID)
		}
		if rec.Event == history.EventExit {
			exits++
			uptimes = append(uptimes, time.Duration(rec.Uptime))
			if rec.ExitCode == nil || *rec.ExitCode != 0 {
				t.Errorf("exit record %+v", rec)
			}
		}
	}
	if st.Children[0].State == "fatal" {
		t.Errorf("blink is fatal after clean exits")
	}
	t.Logf("fast clean exits: %d exits in %s, never fatal (burst 3); uptimes %s", exits, cycles.Round(time.Millisecond), quantileText(uptimes))
}

// The stop report says what ended the process: a child that traps TERM
// and exits 0 about when the KILL is due, stopped over and over. For
// every stop, killed is true exactly when the exit status is KILL, and
// the log's ended_by and the command's output agree.
func TestFaultStateStopReport(t *testing.T) {
	dir := t.TempDir()
	children := ""
	naps := []string{"0.45", "0.5", "0.55"}
	for i, nap := range naps {
		children += fmt.Sprintf(`
[[child]]
name = "racer%d"
command = ["sh", "-c", "trap 'sleep %s; exit 0' TERM; while :; do sleep 60 & wait $!; done"]
start_seconds = "200ms"
stop = { signals = ["TERM"], wait = "500ms" }
`, i+1, nap)
	}
	cfg := faultConfig(t, dir, "", children)
	r := startRun(t, cfg, runOpts{})
	var names []string
	for i := range naps {
		names = append(names, fmt.Sprintf("racer%d", i+1))
	}
	waitStatus(t, cfg, running(names...))
	const perChild = 11
	var wg sync.WaitGroup
	var mu sync.Mutex
	cli := map[string]int{} // "killed" / "exited" outputs of resreap restart
	for _, name := range names {
		wg.Go(func() {
			for range perChild {
				code, out, _ := ctl("restart", name, "-c", cfg)
				mu.Lock()
				switch {
				case code != 0:
					t.Errorf("restart %s: exit %d: %s", name, code, out)
				case strings.Contains(out, "stopped by KILL") && strings.Contains(out, "killed)"):
					cli["killed"]++
				case strings.Contains(out, "exited with code 0") && !strings.Contains(out, "killed"):
					cli["exited 0"]++
				default:
					cli["other"]++
					t.Errorf("restart %s says: %s", name, out)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.stop(t, syscall.SIGTERM, 30*time.Second)
	endedBy := map[float64]string{}
	for _, m := range r.logsWhere(func(m map[string]any) bool { return m["event"] == "stop" }) {
		pid, _ := m["pid"].(float64)
		endedBy[pid], _ = m["ended_by"].(string)
	}
	stops := readHistory(t, dir, history.Filter{Events: []history.Event{history.EventStop}})
	outcome := map[string]int{}
	for _, s := range stops {
		if s.Reason != history.ReasonManual {
			continue
		}
		how := history.Ended(history.Record{Signal: s.Signal, ExitCode: s.ExitCode})
		outcome[how]++
		if s.Killed != (s.Signal == "KILL") {
			t.Errorf("pid %d: killed %v but ended by %s; sent %v", s.PID, s.Killed, how, s.SignalsSent)
		}
		want := "TERM"
		if s.Killed {
			want = "KILL"
		}
		if e := endedBy[float64(s.PID)]; e != want {
			t.Errorf("pid %d: %s, killed %v, but the log says ended_by %q", s.PID, how, s.Killed, e)
		}
		if s.Signal == "" && (s.ExitCode == nil || *s.ExitCode != 0) {
			t.Errorf("pid %d ended by %s", s.PID, how)
		}
	}
	n := 0
	for _, v := range outcome {
		n += v
	}
	if n < len(names)*perChild {
		t.Errorf("%d manual stops in the history, want %d", n, len(names)*perChild)
	}
	keys := make([]string, 0, len(outcome))
	for k := range outcome {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, outcome[k]))
	}
	t.Logf("stop reports: %d stops racing exit 0 against KILL (%s), all consistent with killed and ended_by; the command said %v",
		n, strings.Join(parts, ", "), cli)
}

// A child that starts its server in a network namespace of its own (a
// shell that runs `unshare -n server`): the server's CLOSE_WAIT sockets
// exist only in that namespace. Only the child's main process's namespace
// used to be read, and such a leak was never seen. With a cgroup the
// sockets carry the child's cgroup id; without one the owner walk finds
// them in the descendant's fd table.
func TestFaultStateDescendantOtherNetns(t *testing.T) {
	testchild.NeedRoot(t) // to create the network namespace
	for _, mode := range []string{"auto", "off"} {
		t.Run("cgroup="+mode, func(t *testing.T) {
			if mode == "auto" {
				cgrouptest.Need(t)
			}
			dir := t.TempDir()
			children := `[defaults.health]
interval = "200ms"
close_wait = { threshold = 3, persist = 2 }
fds = { enabled = false }

` + helperChild("jailed", "netns-parent", testchild.NEnv+"=5") +
				fmt.Sprintf("capture = true\ncapture_dir = %q\ncapture_output = \"100ms\"\n", filepath.Join(dir, "captures"))
			cfg := faultConfig(t, dir, fmt.Sprintf("cgroup = %q", mode), children)
			r := startRun(t, cfg, runOpts{})
			var verdict, stop *history.Record
			testchild.WaitFor(t, "a close_wait verdict on jailed and its stop", func() bool {
				for _, rec := range readHistory(t, dir, history.Filter{Child: "jailed"}) {
					switch {
					case rec.Event == history.EventUnhealthy && verdict == nil:
						verdict = &rec
					case rec.Event == history.EventStop && rec.Reason == history.ReasonCloseWait && stop == nil:
						stop = &rec
					}
				}
				return verdict != nil && stop != nil
			})
			r.stop(t, syscall.SIGTERM, 30*time.Second)
			ev := verdict.Evidence
			if ev == nil || ev.Reason != health.ReasonCloseWait || ev.CloseWait != 5 {
				t.Fatalf("verdict %+v, want close_wait with the 5 sockets of the namespace", ev)
			}
			// The capture lists them too, read in the descendant's namespace.
			cw, err := os.ReadFile(filepath.Join(stop.Capture, "close_wait.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(cw), "CLOSE-WAIT"); n != 5 {
				t.Errorf("close_wait.txt lists %d sockets, want 5:\n%s", n, cw)
			}
		})
	}
}
