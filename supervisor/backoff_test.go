//go:build linux

package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

func TestStartLimitWindow(t *testing.T) {
	var tr restartTracker
	l := config.StartLimit{Burst: 2, Interval: time.Minute}
	t0 := time.Now()
	if tr.failedStart(l, t0) || tr.failedStart(l, t0.Add(time.Second)) {
		t.Fatal("limit hit within burst")
	}
	if !tr.failedStart(l, t0.Add(2*time.Second)) {
		t.Fatal("third failure within the interval did not hit the limit")
	}
	tr.reset()
	if tr.failedStart(l, t0.Add(2*time.Hour)) {
		t.Fatal("limit hit after reset")
	}
}

// The delays between an exit and the next start grow by the multiplier up
// to max. Measured from the history timestamps with generous upper bounds:
// only the lower bounds are exact (a timer never fires early).
func TestBackoffScheduleGrows(t *testing.T) {
	spec := helperSpec("crasher", "exit", testchild.AfterEnv+"=0s", testchild.CodeEnv+"=3")
	spec.StartGrace = time.Second
	spec.Backoff = config.BackoffSpec{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Multiplier: 2, ResetAfter: time.Hour}
	h := startSupervisor(t, spec)
	recs := h.hist.waitFor(t, 60*time.Second, "6 starts", func(r []history.Record) bool { return count(r, "crasher", history.EventStart) >= 6 })
	h.stop()
	want := []time.Duration{100, 200, 400, 400, 400}
	var lastExit time.Time
	i := 0
	for _, r := range recs {
		switch {
		case r.Child != "crasher":
		case r.Event == history.EventExit:
			lastExit = r.Time
			if code := r.ExitCode; code == nil || *code != 3 {
				t.Errorf("exit record without exit_code 3: %+v", r)
			}
			if time.Duration(r.Backoff) != want[min(i, len(want)-1)]*time.Millisecond {
				t.Errorf("exit %d: backoff %s, want %dms", i, time.Duration(r.Backoff), want[min(i, len(want)-1)])
			}
		case r.Event == history.EventStart && !lastExit.IsZero() && i < len(want):
			gap := r.Time.Sub(lastExit)
			if gap < want[i]*time.Millisecond || gap > want[i]*time.Millisecond+5*time.Second {
				t.Errorf("restart %d came %s after the exit, want about %dms", i, gap, want[i])
			}
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("saw %d restarts, want %d", i, len(want))
	}
}

// A child that ran for reset_after starts over at the initial delay.
func TestBackoffResetsAfterHealthyRun(t *testing.T) {
	spec := helperSpec("flaky", "exit", testchild.AfterEnv+"=300ms", testchild.CodeEnv+"=1")
	spec.StartGrace = 50 * time.Millisecond
	spec.Backoff = config.BackoffSpec{Initial: 20 * time.Millisecond, Max: 10 * time.Second, Multiplier: 4, ResetAfter: 200 * time.Millisecond}
	h := startSupervisor(t, spec)
	recs := h.hist.waitFor(t, 60*time.Second, "4 exits", func(r []history.Record) bool { return count(r, "flaky", history.EventExit) >= 4 })
	for _, r := range recs {
		if r.Event == history.EventExit && time.Duration(r.Backoff) != 20*time.Millisecond {
			t.Errorf("backoff %s after a %s run, want the initial 20ms", time.Duration(r.Backoff), time.Duration(r.Uptime))
		}
	}
}

func TestStartLimitMakesChildFatal(t *testing.T) {
	spec := helperSpec("doomed", "exit", testchild.AfterEnv+"=0s", testchild.CodeEnv+"=1")
	spec.StartGrace = time.Minute // every exit is a failed start, however slow the machine
	spec.Backoff.Initial, spec.Backoff.Max = 10*time.Millisecond, 10*time.Millisecond
	spec.StartLimit = config.StartLimit{Burst: 2, Interval: time.Minute}
	h := startSupervisor(t, spec)
	h.waitState(t, "doomed", Fatal, 60*time.Second)
	recs := h.hist.waitFor(t, 10*time.Second, "fatal record", func(r []history.Record) bool { return count(r, "doomed", history.EventFatal) == 1 })
	if n := count(recs, "doomed", history.EventStart); n != 3 {
		t.Errorf("%d starts before Fatal, want 3 (burst 2 + the one that broke it)", n)
	}
	// Recorded as what the fatal record counts: failed starts.
	for _, r := range h.hist.matching("doomed", history.EventExit, history.EventFatal) {
		if r.Reason != history.ReasonStartFailed {
			t.Errorf("%s record with reason %s, want start_failed: %s", r.Event, r.Reason, r.Message)
		}
	}
	// Fatal is final until an operator acts, who learns that this start
	// failed too.
	if _, err := h.sup.StartChild(context.Background(), "doomed", time.Minute); !errors.Is(err, ErrStartFailed) || !strings.Contains(err.Error(), "exit 1") {
		t.Fatalf("StartChild: %v, want ErrStartFailed with the exit", err)
	}
	h.hist.waitFor(t, 30*time.Second, "a start after the manual start", func(r []history.Record) bool { return count(r, "doomed", history.EventStart) >= 4 })
}

func TestMissingBinaryBacksOff(t *testing.T) {
	spec := helperSpec("ghost", "sleep")
	spec.Command = []string{"/nonexistent/bin/ghost", "--serve"}
	spec.Backoff = config.BackoffSpec{Initial: 20 * time.Millisecond, Max: 80 * time.Millisecond, Multiplier: 2, ResetAfter: time.Hour}
	spec.StartLimit = config.StartLimit{Burst: 3, Interval: time.Minute}
	h := startSupervisor(t, spec)
	recs := h.hist.waitFor(t, 30*time.Second, "fatal", func(r []history.Record) bool { return count(r, "ghost", history.EventFatal) == 1 })
	fails := h.hist.matching("ghost", history.EventStart)
	if len(fails) != 4 {
		t.Fatalf("%d failed starts, want 4:\n%s", len(fails), dumpRecords(recs))
	}
	for _, r := range fails[:3] {
		if r.Reason != history.ReasonStartFailed || !strings.Contains(r.Message, "/nonexistent/bin/ghost") ||
			!strings.Contains(r.Message, "does not exist") || r.Backoff == 0 || r.PID != 0 {
			t.Errorf("failed start record %+v", r)
		}
	}
}

func TestBadDirAndUserAreFailedStarts(t *testing.T) {
	dir := helperSpec("nodir", "sleep")
	dir.Dir = "/nonexistent/dir"
	usr := helperSpec("nouser", "sleep")
	usr.User = "no-such-user-resreap"
	h := startSupervisor(t, dir, usr)
	h.hist.waitFor(t, 30*time.Second, "both failed", func(r []history.Record) bool {
		return len(h.hist.matching("nodir", history.EventStart)) > 0 && len(h.hist.matching("nouser", history.EventStart)) > 0
	})
	if m := h.hist.matching("nodir", history.EventStart)[0].Message; !strings.Contains(m, "directory /nonexistent/dir does not exist") {
		t.Errorf("bad dir message %q", m)
	}
	if m := h.hist.matching("nouser", history.EventStart)[0].Message; !strings.Contains(m, `no such user "no-such-user-resreap"`) {
		t.Errorf("bad user message %q", m)
	}
}

// Behind the rlimit shim, an exec that fails (here: the dropped user may
// not reach the binary) is a failed start with the exec's own message, as
// without the shim; it used to be an ordinary exit 127 blamed on the limit.
func TestShimExecFailureIsAFailedStart(t *testing.T) {
	testchild.NeedRoot(t) // to drop to nobody
	// The shim is this test binary, which go test builds in a private
	// directory: open the way to it for nobody, as an installed resreap is.
	for d := filepath.Dir(os.Args[0]); d != "/" && d != "."; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			os.Chmod(d, st.Mode().Perm()|0o011) //nolint:errcheck // the exec below tells
		}
	}
	dir := t.TempDir() // 0700, owned by root: nobody cannot enter it
	bin := filepath.Join(dir, "server")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := helperSpec("locked", "sleep")
	spec.Command, spec.Env = []string{bin}, nil
	spec.User, spec.RlimitNofile = "nobody", 4096
	h := startSupervisor(t, spec)
	r := h.hist.waitMatching(t, 1, "locked", history.EventStart)[0]
	if r.Reason != history.ReasonStartFailed || r.Message != "exec "+bin+": permission denied" {
		t.Errorf("record %+v, want start_failed with %q", r, "exec "+bin+": permission denied")
	}
}
