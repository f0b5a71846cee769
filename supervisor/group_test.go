//go:build linux

package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// Four instances that all leak to the same upstream, in a group with
// max_unavailable = 1: they are restarted one at a time (no two are ever
// down together, from the history's own times), the others' restarts are
// deferred meanwhile, and one correlated event names the upstream.
func TestGroupRestartsOneAtATime(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	var specs []config.ChildSpec
	var members []string
	for i := range 4 {
		s := leakerSpec("fe."+strconv.Itoa(i), addr, 5)
		s.Base, s.Instances, s.Instance = "fe", 4, i
		specs = append(specs, s)
		members = append(members, s.Name)
	}
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: specs,
		Groups: []config.GroupSpec{{Name: "frontends", Members: members, MaxUnavailable: 1}}}
	h := startConfig(t, cfg, Options{})

	recs := h.hist.waitFor(t, 120*time.Second, "two restarts of every member", func(r []history.Record) bool {
		for _, m := range members {
			if count(r, m, history.EventRestart) < 2 {
				return false
			}
		}
		return true
	})

	// Each restart takes its member down from its stop's first signal
	// until its next start; those windows must not overlap.
	type window struct {
		member     string
		from, till time.Time
	}
	var windows []window
	for i, r := range recs {
		if r.Event != history.EventStop || len(r.SignalsSent) == 0 {
			continue
		}
		w := window{member: r.Child, from: r.SignalsSent[0].Time}
		for _, next := range recs[i+1:] {
			if next.Child == r.Child && next.Event == history.EventStart {
				w.till = next.Time
				break
			}
		}
		if w.till.IsZero() {
			continue // still down at the end
		}
		windows = append(windows, w)
	}
	slices.SortFunc(windows, func(a, b window) int { return a.from.Compare(b.from) })
	for i := 1; i < len(windows); i++ {
		if prev := windows[i-1]; windows[i].from.Before(prev.till) {
			t.Errorf("%s went down at %s while %s was down (%s to %s)", windows[i].member,
				windows[i].from.Format("15:04:05.000"), prev.member, prev.from.Format("15:04:05.000"), prev.till.Format("15:04:05.000"))
		}
	}
	if len(windows) < 7 {
		t.Errorf("%d restarts seen, want at least 7", len(windows))
	}
	var deferred, correlated []history.Record
	for _, r := range recs {
		switch r.Event {
		case history.EventDeferred:
			deferred = append(deferred, r)
		case history.EventCorrelated:
			correlated = append(correlated, r)
		}
	}
	if len(deferred) == 0 {
		t.Error("no deferred record while four members leaked at once")
	}
	for _, d := range deferred {
		if d.Group != "frontends" || !(strings.Contains(d.Message, "max_unavailable 1") || strings.Contains(d.Message, "has waited longer")) || d.Evidence == nil {
			t.Errorf("deferred record %+v", d)
		}
	}
	if len(correlated) == 0 {
		t.Fatalf("no correlated record:\n%s", dumpRecords(recs))
	}
	if c := correlated[0]; c.Endpoint != addr || len(c.Members) < 3 || c.Group != "frontends" {
		t.Errorf("correlated record %+v, want endpoint %s and at least 3 members", c, addr)
	}
}

// A check in observe mode records its verdict once, as would_restart, and
// never signals the child.
func TestObserveModeNeverSignals(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	sigLog := filepath.Join(t.TempDir(), "signals")
	spec := leakerSpec("fe", addr, 5)
	spec.Env[testchild.SigLogEnv] = sigLog
	spec.Health.Observe = map[health.Reason]bool{health.ReasonCloseWait: true}
	h := startSupervisor(t, spec)
	st := h.waitState(t, "fe", Running, 30*time.Second)
	h.hist.waitMatching(t, 1, "fe", history.EventWouldRestart)

	// Twenty more scans of the same leaking process.
	time.Sleep(20 * spec.Health.Interval)
	recs := h.hist.all()
	if n := count(recs, "fe", history.EventWouldRestart); n != 1 {
		t.Errorf("%d would_restart records, want 1 per process", n)
	}
	for _, ev := range []history.Event{history.EventStop, history.EventRestart, history.EventUnhealthy} {
		if n := count(recs, "fe", ev); n != 0 {
			t.Errorf("%d %s records in observe mode", n, ev)
		}
	}
	if r := h.hist.matching("fe", history.EventWouldRestart)[0]; r.Message != "observe mode: not restarted" || r.Evidence == nil {
		t.Errorf("would_restart %+v", r)
	}
	if now := statusOf(t, h, "fe"); now.PID != st.PID {
		t.Errorf("pid %d -> %d in observe mode", st.PID, now.PID)
	}
	if data, _ := os.ReadFile(sigLog); len(data) > 0 {
		t.Errorf("signals received in observe mode: %q", data)
	}
}
