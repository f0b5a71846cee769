package supervisor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/supervisor/history"
)

// BenchmarkRestartLatency measures the time from a child's exit (its reap)
// to the start of the next instance with zero backoff, over 100 restarts
// of /bin/true per benchmark iteration. It reports the median and p99.
//
//	go test -run '^$' -bench RestartLatency -benchtime 1x ./supervisor/
func BenchmarkRestartLatency(b *testing.B) {
	spec := builtinChild
	spec.Name, spec.Command = "true", []string{"true"}
	spec.StartGrace = time.Hour // every exit is an early one; the limit below never trips
	spec.Backoff = BackoffSpec{Multiplier: 1}
	spec.StartLimit = StartLimit{Burst: 1 << 30, Interval: time.Second}
	spec.Health.CloseWait.Enabled, spec.Health.FDs.Enabled = false, false
	var gaps []time.Duration
	for i := 0; i < b.N; i++ {
		hist := newMemHistory()
		sup := New(&Config{Supervisor: SupervisorConfig{HealthReader: "auto"}, Children: []ChildSpec{spec}},
			Options{Log: zerolog.Nop(), Reaper: testReaper, History: hist, Stdout: discard{}, Stderr: discard{}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { sup.Run(ctx); close(done) }()
		for count(hist.all(), "true", history.EventStart) < 101 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		var lastStart, exitAt time.Time
		for _, r := range hist.all() {
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

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
