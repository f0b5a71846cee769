//go:build linux

package supervisor

import (
	"math/rand/v2"
	"time"

	"github.com/resreap/resreap/internal/config"
)

// restartTracker holds a child's restart bookkeeping: consecutive failures
// for the backoff and the times of recent failed starts for the start limit.
type restartTracker struct {
	failures     int         // consecutive failures since the last healthy run
	failedStarts []time.Time // within the start limit interval
}

// nextDelay records a failure and returns the delay before the next start.
// A run that lasted reset_after or longer first clears the failure count.
func (t *restartTracker) nextDelay(b config.BackoffSpec, uptime time.Duration) time.Duration {
	if uptime >= b.ResetAfter {
		t.failures = 0
	}
	d := b.Delay(t.failures, rand.Float64()*2-1)
	t.failures++
	return d
}

// failedStart records a start that failed at now and reports whether the
// start limit is exceeded (more than Burst failures within Interval).
func (t *restartTracker) failedStart(l config.StartLimit, now time.Time) bool {
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
