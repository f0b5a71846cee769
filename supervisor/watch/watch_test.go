//go:build linux

package watch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/testchild"
)

// records parses JSON-lines output, failing the test on any bad line.
func records(t *testing.T, out string) []history.Record {
	t.Helper()
	var recs []history.Record
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r history.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func events(recs []history.Record) []history.Event {
	var out []history.Event
	for _, r := range recs {
		out = append(out, r.Event)
	}
	return out
}

func testLog(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

// optsFor selects h alone, with quick timings.
func optsFor(h *helper) Options {
	o := DefaultOptions()
	o.Pattern = regexp.MustCompile(regexp.QuoteMeta(h.token))
	o.Interval = 100 * time.Millisecond
	o.Wait = 300 * time.Millisecond
	o.JSON = true
	o.Once, o.Act = true, true
	return o
}

// --once alone is a check: the verdict is printed, the -c command does
// not run and nothing is signalled.
func TestOnceIsACheck(t *testing.T) {
	h, _ := leaker(t, 3)
	o := optsFor(h)
	o.Act = false
	o.Command = "touch " + t.TempDir() + "/ran"
	sum, recs := runOnce(t, o)
	if sum.Verdicts != 1 || sum.Stopped != 0 || len(recs) != 1 || recs[0].Event != history.EventUnhealthy {
		t.Errorf("summary %+v events %v, want one verdict and nothing else", sum, events(recs))
	}
	if len(recs) == 1 && !strings.HasPrefix(recs[0].Message, "would send TERM") {
		t.Errorf("verdict message %q", recs[0].Message)
	}
	if _, err := os.Stat(strings.TrimPrefix(o.Command, "touch ")); err == nil {
		t.Error("the -c command ran")
	}
	if !h.Alive() {
		t.Fatal("the helper died")
	}
	wantSignals(t, h.Signals(t))
}

// runOnce runs one --once --json judgement and returns its summary and
// events.
func runOnce(t *testing.T, o Options) (Summary, []history.Record) {
	t.Helper()
	var out testchild.Buffer
	sum, err := Run(testContext(t), o, Env{Stdout: &out, Log: testLog(t), Reaper: testReaper})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	recs := records(t, out.String())
	t.Logf("summary %+v, events %v", sum, events(recs))
	return sum, recs
}

func wantSignals(t *testing.T, have []string, want ...string) {
	t.Helper()
	if strings.Join(have, ",") != strings.Join(want, ",") {
		t.Errorf("signals received: have %v, want %v", have, want)
	}
}

func TestLeakerKilledWithEscalation(t *testing.T) {
	h, addr := leaker(t, 3, testchild.OnTermEnv+"=ignore")
	sum, recs := runOnce(t, optsFor(h))

	st := h.Wait(t)
	if ws := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("helper ended with %v, want SIGKILL", st)
	}
	wantSignals(t, h.Signals(t), "TERM")
	if sum.Verdicts != 1 || sum.Stopped != 1 || sum.Scans != 2 {
		t.Errorf("summary %+v, want 1 verdict, 1 stopped, 2 scans", sum)
	}
	if len(recs) != 2 || recs[0].Event != history.EventUnhealthy || recs[1].Event != history.EventStop {
		t.Fatalf("events %v, want unhealthy, stop", events(recs))
	}
	ev := recs[0].Evidence
	if recs[0].PID != h.PID || ev == nil || ev.Reason != health.ReasonCloseWait || ev.CloseWait != 3 || ev.ByForeign[addr] != 3 {
		t.Errorf("verdict %+v evidence %+v, want pid %d and 3 CLOSE_WAIT to %s", recs[0], ev, h.PID, addr)
	}
	stop := recs[1]
	var sent []string
	for _, s := range stop.SignalsSent {
		sent = append(sent, s.Signal)
	}
	if strings.Join(sent, ",") != "TERM,KILL" || !stop.Killed {
		t.Errorf("stop %+v, want TERM then KILL", stop)
	}
}

func TestPatternMismatchLeavesProcessAlone(t *testing.T) {
	h, _ := leaker(t, 3)
	o := optsFor(h)
	o.Pattern = regexp.MustCompile(regexp.QuoteMeta(h.token) + "-not-this-one")
	sum, recs := runOnce(t, o)
	if sum.Verdicts != 0 || len(recs) != 0 || !h.Alive() {
		t.Errorf("summary %+v events %v alive %v: want nothing done", sum, events(recs), h.Alive())
	}
	wantSignals(t, h.Signals(t))
}

func TestForeignEndpointIgnored(t *testing.T) {
	h, addr := leaker(t, 3)
	_, port, _ := strings.Cut(addr, ":")
	for _, entry := range []string{addr, ":" + port, "127.0.0.0/8"} {
		t.Run(entry, func(t *testing.T) {
			o := optsFor(h)
			var err error
			if o.Ignore, err = health.ParseIgnore([]string{entry}); err != nil {
				t.Fatal(err)
			}
			sum, recs := runOnce(t, o)
			if sum.Verdicts != 0 || len(recs) != 0 || !h.Alive() {
				t.Errorf("summary %+v events %v: want the ignored peer not to count", sum, events(recs))
			}
		})
	}
	wantSignals(t, h.Signals(t))
}

func TestLimitAboveLeakLeavesProcessAlone(t *testing.T) {
	h, _ := leaker(t, 3)
	o := optsFor(h)
	o.Limit = 4
	if sum, _ := runOnce(t, o); sum.Verdicts != 0 || !h.Alive() {
		t.Errorf("summary %+v: 3 CLOSE_WAIT must not reach -l 4", sum)
	}
}

func TestDryRunSignalsNothing(t *testing.T) {
	h, _ := leaker(t, 3)
	o := optsFor(h)
	o.DryRun = true
	sum, recs := runOnce(t, o)
	if sum.Verdicts != 1 || sum.Stopped != 0 {
		t.Errorf("summary %+v, want 1 verdict and nothing stopped", sum)
	}
	if len(recs) != 1 || recs[0].Event != history.EventUnhealthy || !strings.Contains(recs[0].Message, "dry run: would send TERM, then KILL") {
		t.Errorf("events %+v, want one unhealthy dry-run verdict", recs)
	}
	if !h.Alive() {
		t.Error("dry run killed the helper")
	}
	wantSignals(t, h.Signals(t))
}

// TestLoopDryRun runs the watch loop (not --once) until it has judged the
// helper twice, then stops it.
func TestLoopDryRun(t *testing.T) {
	h, _ := leaker(t, 2)
	o := optsFor(h)
	o.Once, o.DryRun = false, true
	o.Interval = 50 * time.Millisecond
	var out testchild.Buffer
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, o, Env{Stdout: &out, Log: testLog(t), Reaper: testReaper})
		done <- err
	}()
	deadline := time.Now().Add(helperWait)
	for strings.Count(out.String(), `"event":"unhealthy"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two verdicts after %s; output:\n%s", helperWait, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !h.Alive() {
		t.Error("dry run killed the helper")
	}
}

func TestCommandVetoes(t *testing.T) {
	h, _ := leaker(t, 3)
	o := optsFor(h)
	o.Command = "echo checking $pid; exit 1"
	sum, recs := runOnce(t, o)
	if sum.Verdicts != 1 || sum.Stopped != 0 || !h.Alive() {
		t.Errorf("summary %+v alive %v: want a verdict and no stop", sum, h.Alive())
	}
	if len(recs) != 2 || recs[1].Event != history.EventVeto || !strings.Contains(recs[1].Message, "(exit 1)") {
		t.Errorf("events %+v, want unhealthy, veto", recs)
	}
	wantSignals(t, h.Signals(t))
}

func TestCommandAgreesAndSeesPID(t *testing.T) {
	h, _ := leaker(t, 3)
	file := t.TempDir() + "/hook"
	o := optsFor(h)
	o.Command = `echo "$pid $RESREAP_PID $RESREAP_REASON" > ` + file + `; echo "$RESREAP_EVIDENCE" >> ` + file
	sum, recs := runOnce(t, o)
	h.Wait(t)
	wantSignals(t, h.Signals(t), "TERM")
	if sum.Stopped != 1 || len(recs) != 2 || recs[1].Event != history.EventStop {
		t.Errorf("summary %+v events %v, want the stop to go ahead", sum, events(recs))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	first, evidence, _ := strings.Cut(string(data), "\n")
	p := strconv.Itoa(h.PID)
	if first != p+" "+p+" close_wait" {
		t.Errorf("hook saw %q, want %q", first, p+" "+p+" close_wait")
	}
	var ev health.Evidence
	if err := json.Unmarshal([]byte(evidence), &ev); err != nil || ev.CloseWait != 3 {
		t.Errorf("RESREAP_EVIDENCE %q: %v, want 3 CLOSE_WAIT", evidence, err)
	}
}

func TestPreSignalArrivesBeforeSignal(t *testing.T) {
	h, _ := leaker(t, 3)
	o := optsFor(h)
	o.PreSignal = unix.SIGQUIT
	sum, recs := runOnce(t, o)
	st := h.Wait(t)
	wantSignals(t, h.Signals(t), "QUIT", "TERM")
	if !st.Exited() || st.ExitCode() != 0 {
		t.Errorf("helper ended with %v, want exit 0 on TERM", st)
	}
	if sum.Stopped != 1 || len(recs) != 2 {
		t.Fatalf("summary %+v events %v", sum, events(recs))
	}
	if stop := recs[1]; len(stop.SignalsSent) != 2 || stop.SignalsSent[0].Signal != "QUIT" || stop.SignalsSent[1].Signal != "TERM" || stop.Killed {
		t.Errorf("stop %+v, want QUIT, TERM and no KILL", stop)
	}
}

func TestOtherSignal(t *testing.T) {
	h, _ := leaker(t, 2, testchild.OnTermEnv+"=ignore")
	o := optsFor(h)
	o.Signal = unix.SIGUSR1
	runOnce(t, o)
	h.Wait(t)
	wantSignals(t, h.Signals(t), "USR1") // then KILL, which is not recorded
}

// TestPIDReuseNotSignalled judges a process, then finds another start time
// on its PID: the one a recycled PID would show. Nothing is signalled.
func TestPIDReuseNotSignalled(t *testing.T) {
	h, _ := leaker(t, 3)
	st, err := realProc().stat(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("at judgement", func(t *testing.T) {
		w, err := newWatcher(optsFor(h), Env{Log: testLog(t), Reaper: testReaper})
		if err != nil {
			t.Fatal(err)
		}
		defer w.close()
		c := candidate{PID: h.PID, Start: st.Start + 1, Comm: st.Comm, CloseWait: true}
		err = w.act(testContext(t), c, &health.Evidence{Reason: health.ReasonCloseWait, CloseWait: 3})
		if !errors.Is(err, ErrPIDReused) {
			t.Errorf("act: %v, want ErrPIDReused", err)
		}
	})
	t.Run("before a signal", func(t *testing.T) {
		p, err := OpenProcess(h.PID, st.Start)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.Start++ // as if the judged process had exited and pid been reused
		rep := proc.Escalate(testContext(t), p, proc.Plan{Steps: []proc.Step{{Signal: unix.SIGTERM, Wait: time.Millisecond}}})
		if !errors.Is(rep.Err, ErrPIDReused) || len(rep.SignalsSent) != 0 {
			t.Errorf("Escalate: %+v, want ErrPIDReused and no signal", rep)
		}
	})
	t.Run("open", func(t *testing.T) {
		if _, err := OpenProcess(h.PID, st.Start-1); !errors.Is(err, ErrPIDReused) {
			t.Errorf("OpenProcess: %v, want ErrPIDReused", err)
		}
	})
	if !h.Alive() {
		t.Fatal("helper died")
	}
	wantSignals(t, h.Signals(t))
}

// TestPidfdPinsExitedProcess shows why the pidfd matters: once the judged
// process has exited, a signal through its pidfd fails rather than reach
// whatever holds the PID next.
func TestPidfdPinsExitedProcess(t *testing.T) {
	h := startHelper(t, "idle")
	st, err := realProc().stat(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenProcess(h.PID, st.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Exited() {
		t.Fatal("Exited before the exit")
	}
	h.CloseStdin()
	h.Wait(t) // reaped: the PID is free for reuse
	if !p.Wait(testContext(t), time.Second) {
		t.Error("Wait: false after the exit")
	}
	if err := pidfdSignal(p.fd, unix.SIGTERM); !errors.Is(err, unix.ESRCH) {
		t.Errorf("pidfd_send_signal after exit: %v, want ESRCH", err)
	}
	if err := p.Signal(unix.SIGTERM); !errors.Is(err, proc.ErrGone) {
		t.Errorf("Signal after exit: %v, want proc.ErrGone", err)
	}
	if _, err := OpenProcess(h.PID, st.Start); !errors.Is(err, proc.ErrGone) && !errors.Is(err, ErrPIDReused) {
		t.Errorf("OpenProcess after exit: %v, want proc.ErrGone (or ErrPIDReused)", err)
	}
	rep := proc.Escalate(testContext(t), p, proc.Plan{Steps: []proc.Step{{Signal: unix.SIGTERM}}})
	if !rep.Exited || len(rep.SignalsSent) != 0 || rep.Err != nil {
		t.Errorf("Escalate of an exited process: %+v, want exited, nothing sent", rep)
	}
}

func TestOpenMax(t *testing.T) {
	// The helper holds 60 fds under a soft limit of 64 (93.75%).
	h := startHelper(t, "fds", testchild.LimitEnv+"=64", testchild.NEnv+"=60")
	pid := strconv.Itoa(h.PID)
	for _, tc := range []struct {
		name     string
		openmax  string
		psfilter []string
		pattern  string // "" = the helper's token
		want     bool
	}{
		{"ratio over", "90%", nil, "", true},
		{"count over", "50", nil, "", true},
		{"ratio under", "95%", nil, "", false},
		{"count under", "61", nil, "", false},
		{"psfilter selects", "90%", []string{"-p", pid}, "^no such process$", true},
		{"psfilter by command", "50", []string{"-C", "watch.test"}, "^no such process$", true},
		{"psfilter selects nothing", "90%", []string{"-p", "2147483646"}, "^no such process$", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := optsFor(h)
			o.DryRun = true
			var err error
			if o.OpenMax, err = parseOpenMax(tc.openmax); err != nil {
				t.Fatal(err)
			}
			o.PSFilter = tc.psfilter
			if tc.pattern != "" {
				o.Pattern = regexp.MustCompile(tc.pattern)
			}
			sum, recs := runOnce(t, o)
			var mine []history.Record
			for _, r := range recs {
				if r.PID == h.PID {
					mine = append(mine, r)
				}
			}
			if have := len(mine) > 0; have != tc.want {
				t.Fatalf("verdict on the helper: have %v, want %v (summary %+v)", have, tc.want, sum)
			}
			if !tc.want {
				return
			}
			ev := mine[0].Evidence
			if ev == nil || ev.Reason != health.ReasonFDExhaustion || ev.FDs == nil || ev.FDs.Open < 60 || ev.FDs.Limit != 64 {
				t.Errorf("evidence %+v, want fd_exhaustion at >= 60/64", ev)
			}
		})
	}
	if !h.Alive() {
		t.Error("helper died in a dry run")
	}
}

func TestHistoryFile(t *testing.T) {
	h, _ := leaker(t, 2)
	o := optsFor(h)
	o.History = t.TempDir() + "/history.jsonl"
	runOnce(t, o)
	h.Wait(t)
	recs, warns, err := history.Read(o.History, history.Filter{})
	if err != nil || len(warns) != 0 {
		t.Fatalf("read history: %v %v", err, warns)
	}
	if len(recs) != 2 || recs[0].Event != history.EventUnhealthy || recs[1].Event != history.EventStop || recs[1].PID != h.PID {
		t.Errorf("history %+v, want unhealthy and stop of %d", recs, h.PID)
	}
}

func TestTextOutput(t *testing.T) {
	h, addr := leaker(t, 2)
	o := optsFor(h)
	o.JSON, o.DryRun = false, true
	var out testchild.Buffer
	if _, err := Run(testContext(t), o, Env{Stdout: &out, Log: testLog(t), Reaper: testReaper}); err != nil {
		t.Fatal(err)
	}
	want := "unhealthy pid=" + strconv.Itoa(h.PID) + " watch.test close_wait: 2 CLOSE_WAIT, " + addr + "×2"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output %q, want a line with %q", out.String(), want)
	}

	o.Pattern = regexp.MustCompile("^no such process$")
	out = testchild.Buffer{}
	if _, err := Run(testContext(t), o, Env{Stdout: &out, Log: testLog(t), Reaper: testReaper}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "no process to act on (0 candidates") {
		t.Errorf("output %q, want the no-verdict line", out.String())
	}
}

// TestReaders: the watchdog finds the leak with each source: the dumps,
// and the BPF event source that resreap run uses (by default, as root).
// With --once (runOnce), auto is the dump: two snapshots do not pay for
// loading the event source.
func TestReaders(t *testing.T) {
	h, _ := leaker(t, 2)
	for _, tc := range []struct{ source, reader, want string }{
		{health.SourceDump, health.ReaderNetlink, health.ReaderNetlink},
		{health.SourceDump, health.ReaderProc, health.ReaderProc},
		{health.SourceBPF, health.ReaderAuto, health.ReaderBPF},
		{health.SourceAuto, health.ReaderAuto, health.ReaderNetlink},
	} {
		t.Run(tc.source+"/"+tc.reader, func(t *testing.T) {
			if tc.want == health.ReaderBPF {
				testchild.NeedRoot(t)
			}
			o := optsFor(h)
			o.DryRun, o.Source, o.Reader = true, tc.source, tc.reader
			sum, _ := runOnce(t, o)
			if sum.Reader != tc.want || sum.Verdicts != 1 {
				t.Errorf("summary %+v, want reader %s and one verdict", sum, tc.want)
			}
		})
	}
}
