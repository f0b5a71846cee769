//go:build linux

package supervisor

import (
	"testing"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// fdGrower is a child that opens one fd every 10ms under a limit of 400:
// steadily to the limit, or with teeth > 0 in a sawtooth.
func fdGrower(name string, teeth string) config.ChildSpec {
	spec := helperSpec(name, "fdgrow", testchild.LimitEnv+"=400", testchild.AfterEnv+"=10ms", testchild.NEnv+"="+teeth)
	spec.Health.Interval = 100 * time.Millisecond
	spec.Health.Policy.FDs = health.FDPolicy{MaxRatio: 0.9, Persist: 2, Predict: time.Minute}
	spec.Backoff = config.BackoffSpec{Initial: time.Hour, Max: time.Hour, Multiplier: 1, ResetAfter: time.Hour}
	return spec
}

// fds.predict restarts a steady leak before it reaches its limit, with
// the fit as evidence, and leaves a sawtooth alone.
func TestPredictedFDExhaustion(t *testing.T) {
	h := startSupervisor(t, fdGrower("leak", "0"), fdGrower("saw", "30"))
	recs := h.hist.waitMatching(t, 1, "leak", history.EventStop)
	ev := recs[0].Evidence
	if ev == nil || ev.Reason != health.ReasonFDExhaustion || ev.FDs == nil || ev.FDs.Prediction == nil {
		t.Fatalf("stop evidence %+v, want a predicted fd exhaustion", ev)
	}
	f := ev.FDs
	if f.Limit != 400 || float64(f.Open) >= 0.9*float64(f.Limit) {
		t.Errorf("restarted at %d/%d fds: the static check (90%%) would have done it too", f.Open, f.Limit)
	}
	p := f.Prediction
	t.Logf("restarted at %d/%d fds: %+.0f fds/min, R² %.3f over %d scans, limit in %s", f.Open, f.Limit, p.SlopePerMin, p.R2, len(p.Samples), time.Duration(p.ReachesLimitIn))
	if p.SlopePerMin < 1000 || p.R2 < 0.9 || len(p.Samples) < 8 || time.Duration(p.ReachesLimitIn) > time.Minute {
		t.Errorf("prediction %+v: want ~6000 fds/min, a good fit of 8+ scans, the limit within a minute", p)
	}

	// The sawtooth, scanned all along, was never judged unhealthy: 40
	// more scans.
	time.Sleep(40 * 100 * time.Millisecond)
	for _, ev := range []history.Event{history.EventUnhealthy, history.EventStop} {
		if n := count(h.hist.all(), "saw", ev); n != 0 {
			t.Errorf("sawtooth: %d %s records:\n%s", n, ev, dumpRecords(h.hist.matching("saw")))
		}
	}
	if st := statusOf(t, h, "saw"); st.State != Running || st.Health.FDs.Open == 0 {
		t.Errorf("sawtooth %s, fds %+v", st.State, st.Health.FDs)
	}
}
