//go:build linux

package config

import (
	"math"
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
