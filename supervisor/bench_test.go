//go:build linux

package supervisor

import (
	"slices"
	"testing"
	"time"

	"github.com/resreap/resreap/health"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// BenchmarkRestartLatency measures the time from a child's exit (its reap)
// to the start of the next instance with zero backoff, over 100 restarts
// of /bin/true per benchmark iteration. It reports the median and p99.
//
//	go test -run '^$' -bench RestartLatency -benchtime 1x ./supervisor/
func BenchmarkRestartLatency(b *testing.B) {
	spec := config.DefaultChild()
	spec.Name, spec.Command = "true", []string{"true"}
	spec.StartGrace = time.Hour // every exit is an early one; the limit below never trips
	spec.Backoff = config.BackoffSpec{Multiplier: 1}
	spec.StartLimit = config.StartLimit{Burst: 1 << 30, Interval: time.Second}
	spec.Health.Policy.CloseWait.Disabled, spec.Health.Policy.FDs.Disabled = true, true
	var gaps []time.Duration
	for i := 0; i < b.N; i++ {
		h := startSupervisor(b, spec)
		h.hist.waitFor(b, time.Minute, "101 starts", func(r []history.Record) bool { return count(r, "true", history.EventStart) >= 101 })
		h.stop()
		var lastStart, exitAt time.Time
		for _, r := range h.hist.all() {
			switch r.Event {
			case history.EventStart:
				if !exitAt.IsZero() {
					gaps = append(gaps, r.Time.Sub(exitAt))
				}
				lastStart, exitAt = r.Time, time.Time{}
			case history.EventExit:
				exitAt = lastStart.Add(time.Duration(r.Uptime))
			}
		}
	}
	slices.Sort(gaps)
	b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(gaps[len(gaps)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(gaps)), "restarts")
}

// BenchmarkDetectionLatency measures, for interval = "1s" and persist = 2,
// the time from the leak (the helper prints "ready" once its sockets are in
// CLOSE_WAIT) to the verdict and to the reap after the stop. Expect between
// one and two intervals: the leak lands at a random phase of the scan tick.
//
//	go test -run '^$' -bench DetectionLatency -benchtime 3x ./supervisor/
func BenchmarkDetectionLatency(b *testing.B) {
	addr := testchild.ClosingListener(b, "127.0.0.1:0")
	var verdicts, reaps []time.Duration
	for i := 0; i < b.N; i++ {
		spec := leakerSpec("leaker", addr, 3)
		spec.Health.Interval = time.Second
		spec.Health.Policy.CloseWait = health.CloseWaitPolicy{Threshold: 2, Persist: 2}
		h := startSupervisor(b, spec)
		h.out.waitLine(b, time.Minute, "ready")
		leakAt := time.Now()
		recs := h.hist.waitFor(b, time.Minute, "stop", func(r []history.Record) bool { return count(r, "leaker", history.EventStop) >= 1 })
		h.stop()
		for _, r := range recs {
			switch {
			case r.Event == history.EventUnhealthy && len(verdicts) == i:
				verdicts = append(verdicts, r.Time.Sub(leakAt))
			case r.Event == history.EventStop && len(reaps) == i:
				reaps = append(reaps, r.Time.Sub(leakAt))
			}
		}
	}
	slices.Sort(verdicts)
	slices.Sort(reaps)
	b.ReportMetric(float64(verdicts[len(verdicts)/2].Milliseconds()), "verdict-ms")
	b.ReportMetric(float64(reaps[len(reaps)/2].Milliseconds()), "reaped-ms")
}
