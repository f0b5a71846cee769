package supervisor

import (
	"math"
	"math/rand/v2"
	"time"
)

// Delay is the wait before the next start after k consecutive failures
// (k = 0 for the first): min(Max, Initial*Multiplier^k), then spread by
// ±Jitter using u, a uniform number in [-1, 1). The jitter keeps a fleet of
// children that died together from restarting in lockstep.
func (b BackoffSpec) Delay(k int, u float64) time.Duration {
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(k))
	if d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.Max)
	}
	d += d * b.Jitter * u
	if d < 0 {
		d = 0
	}
	return time.Duration(d)
}

// restartTracker holds a child's restart bookkeeping: consecutive failures
// for the backoff and the times of recent failed starts for the start limit.
type restartTracker struct {
	failures     int         // consecutive failures since the last healthy run
	failedStarts []time.Time // within the start limit interval
}

// nextDelay records a failure and returns the delay before the next start.
// A run that lasted reset_after or longer first clears the failure count.
func (t *restartTracker) nextDelay(b BackoffSpec, uptime time.Duration) time.Duration {
	if uptime >= b.ResetAfter {
		t.failures = 0
	}
	d := b.Delay(t.failures, rand.Float64()*2-1)
	t.failures++
	return d
}

// failedStart records a start that failed at now and reports whether the
// start limit is exceeded (more than Burst failures within Interval).
func (t *restartTracker) failedStart(l StartLimit, now time.Time) bool {
	keep := t.failedStarts[:0]
	for _, at := range t.failedStarts {
		if now.Sub(at) < l.Interval {
			keep = append(keep, at)
		}
	}
	t.failedStarts = append(keep, now)
	return len(t.failedStarts) > l.Burst
}

// reset forgets every failure (an operator started the child by hand).
func (t *restartTracker) reset() { *t = restartTracker{} }
