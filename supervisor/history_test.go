//go:build linux

package supervisor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// fileHistory is a real history file that also tells the test's memHistory
// (for waiting) about every record written.
type fileHistory struct {
	w   *history.Writer
	mem *memHistory
}

func (f fileHistory) Append(r history.Record) error {
	if err := f.w.Append(r); err != nil {
		return err
	}
	return f.mem.Append(r)
}

// Real runs write every event type with its fields to a real file.
func TestHistoryFileFieldsFromRealRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Open(path, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	exiter := helperSpec("exiter", "exit", testchild.AfterEnv+"=200ms", testchild.CodeEnv+"=7")
	exiter.Restart = config.RestartOnFailure
	stubborn := helperSpec("stubborn", "ignore-term")
	stubborn.Stop = config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGTERM, Wait: 300 * time.Millisecond}}}
	leaker := leakerSpec("leaker", addr, 4)

	mem := newMemHistory()
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: []config.ChildSpec{exiter, stubborn, leaker}}
	h := startConfig(t, cfg, Options{History: fileHistory{w, mem}})
	h.hist = mem
	h.hist.waitFor(t, 60*time.Second, "an exit, a restart for CLOSE_WAIT", func(r []history.Record) bool {
		return count(r, "exiter", history.EventExit) >= 1 && count(r, "leaker", history.EventRestart) >= 1
	})
	h.waitState(t, "stubborn", Running, 30*time.Second)
	if _, err := h.sup.StopChild(context.Background(), "stubborn"); err != nil {
		t.Fatal(err)
	}
	h.stop()

	recs, warns, err := history.Read(path, history.Filter{})
	if err != nil || len(warns) != 0 {
		t.Fatalf("read: %v %v", err, warns)
	}
	find := func(child string, ev history.Event, reason history.Reason) history.Record {
		t.Helper()
		for _, r := range recs {
			if r.Child == child && r.Event == ev && (reason == "" || r.Reason == reason) {
				return r
			}
		}
		t.Fatalf("no %s %s (%s) record:\n%s", child, ev, reason, dumpRecords(recs))
		return history.Record{}
	}
	for _, r := range recs {
		if r.Time.IsZero() || r.Time.Location() != time.UTC || r.Event == "" {
			t.Errorf("record without time/event: %+v", r)
		}
	}
	start := find("exiter", history.EventStart, "")
	exit := find("exiter", history.EventExit, history.ReasonExited)
	if exit.PID != start.PID || exit.ExitCode == nil || *exit.ExitCode != 7 || exit.Uptime < history.Duration(200*time.Millisecond) || exit.Backoff == 0 {
		t.Errorf("exit record %+v", exit)
	}
	stop := find("stubborn", history.EventStop, history.ReasonManual)
	if !stop.Killed || stop.Signal != "KILL" || len(stop.SignalsSent) != 2 || stop.SignalsSent[0].Signal != "TERM" ||
		stop.SignalsSent[1].Signal != "KILL" || stop.SignalsSent[1].Time.Before(stop.SignalsSent[0].Time) ||
		stop.StopDuration < history.Duration(300*time.Millisecond) || stop.Uptime == 0 {
		t.Errorf("killed stop record %+v", stop)
	}
	unhealthy := find("leaker", history.EventUnhealthy, history.ReasonCloseWait)
	lstop := find("leaker", history.EventStop, history.ReasonCloseWait)
	restart := find("leaker", history.EventRestart, history.ReasonCloseWait)
	for _, r := range []history.Record{unhealthy, lstop, restart} {
		ev := r.Evidence
		if ev == nil || ev.Reason != health.ReasonCloseWait || ev.CloseWait != 4 || ev.Threshold != 3 || len(ev.Samples) != 4 || ev.ByForeign[addr] != 4 {
			t.Errorf("%s evidence %+v", r.Event, ev)
		}
	}
	if lstop.Signal != "TERM" || lstop.Killed || restart.Restarts < 1 {
		t.Errorf("leaker stop %+v restart %+v", lstop, restart)
	}
}

// After resreap restarts, status counts restarts on from the history, as
// history --summary does: the two agree.
func TestRestartCountsContinueAcrossRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	doomed := helperSpec("doomed", "exit", testchild.AfterEnv+"=0s", testchild.CodeEnv+"=1")
	doomed.StartGrace = time.Minute // every exit is a failed start
	doomed.Backoff.Initial, doomed.Backoff.Max = 10*time.Millisecond, 10*time.Millisecond
	doomed.StartLimit = config.StartLimit{Burst: 2, Interval: time.Minute} // fatal at the third failure: 2 restarts
	run := func() *harness {
		w, err := history.Open(path, history.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		mem := newMemHistory()
		cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: []config.ChildSpec{doomed}}
		h := startConfig(t, cfg, Options{History: fileHistory{w, mem}, HistoryPath: path})
		h.hist = mem
		h.waitState(t, "doomed", Fatal, 60*time.Second)
		return h
	}
	h := run()
	if st := statusOf(t, h, "doomed"); st.Restarts != 2 || st.RestartsBy[history.ReasonStartFailed] != 2 {
		t.Errorf("first run: %d restarts %v, want 2 start_failed", st.Restarts, st.RestartsBy)
	}
	h.stop()

	h = run()
	var st ChildStatus
	testchild.WaitWithin(t, "the restarts of both runs counted", 30*time.Second, func() bool {
		st = statusOf(t, h, "doomed")
		return st.Restarts == 4
	})
	h.stop()
	recs, _, err := history.Read(path, history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	c := history.NewCounter()
	for i := range recs {
		c.Add(&recs[i])
	}
	sum := c.Tallies()["doomed"]
	if st.Restarts != sum.Restarts || st.RestartsBy[history.ReasonStartFailed] != sum.ByReason[history.ReasonStartFailed] {
		t.Errorf("status %d %v, summary %d %v: want them to agree", st.Restarts, st.RestartsBy, sum.Restarts, sum.ByReason)
	}
}
