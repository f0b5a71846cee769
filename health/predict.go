//go:build linux

package health

import (
	"math"
	"time"
)

// Predicting fd exhaustion (fds.predict): a least-squares line through the
// fd counts of the recent scans (up to fdHistoryLen of them) says when the
// count will reach the limit. Two points would let any burst predict
// doom, so the line must also be worth believing:
//
//   - at least predictMinPoints scans;
//   - it explains the counts: R² ≥ predictMinR2 (a sawtooth, whose drops
//     fall in the window, fits a line badly);
//   - the leak goes on: the slope of the newer half of the window is at
//     least half the whole window's (a burst that flattened fails this).
//
// A prediction that holds for Persist scans in a row, like any fd
// verdict, makes the target unhealthy.
const (
	predictMinPoints = 8
	predictMinR2     = 0.9
)

// Prediction is what a prediction rests on, for the evidence.
type Prediction struct {
	// SlopePerMin is the fitted growth, in fds per minute; R2 how well the
	// line fits the counts (1 is a straight line).
	SlopePerMin float64 `json:"slope_per_min"`
	R2          float64 `json:"r2"`
	// ReachesLimitIn is when the line reaches the limit, from the last
	// scan.
	ReachesLimitIn Duration `json:"reaches_limit_in"`
	// Samples are the counts the line was fitted to.
	Samples []FDSample `json:"samples"`
}

// FDSample is one fd count of a prediction's window.
type FDSample struct {
	At   time.Time `json:"at"`
	Open int       `json:"open"`
}

// fit returns the least-squares slope (per minute) and R² of the counts.
func fit(at []time.Time, n []int) (slope, r2 float64) {
	k := float64(len(n))
	if k < 2 {
		return 0, 0
	}
	t0 := at[0]
	var sx, sy, sxx, sxy, syy float64
	for i := range n {
		x, y := at[i].Sub(t0).Minutes(), float64(n[i])
		sx, sy, sxx, sxy, syy = sx+x, sy+y, sxx+x*x, sxy+x*y, syy+y*y
	}
	d := k*sxx - sx*sx
	if d == 0 {
		return 0, 0
	}
	slope = (k*sxy - sx*sy) / d
	vy := k*syy - sy*sy
	if vy == 0 {
		return slope, 0 // flat: nothing to explain, nothing predicted
	}
	r := (k*sxy - sx*sy) / math.Sqrt(d*vy)
	return slope, r * r
}

// predict returns the prediction for the counts h (oldest first) against
// limit, and whether it says the limit is reached within horizon.
func (h *fdHistory) predict(limit uint64, horizon time.Duration) (Prediction, bool) {
	k := len(h.n)
	if limit == 0 || horizon <= 0 || k < predictMinPoints {
		return Prediction{}, false
	}
	slope, r2 := fit(h.at, h.n)
	p := Prediction{SlopePerMin: slope, R2: r2}
	if slope <= 0 || r2 < predictMinR2 {
		return p, false
	}
	if newer, _ := fit(h.at[k/2:], h.n[k/2:]); newer < slope/2 {
		return p, false // flattening
	}
	left := float64(limit) - float64(h.n[k-1])
	p.ReachesLimitIn = Duration(time.Duration(max(0, left) / slope * float64(time.Minute)))
	for i := range h.n {
		p.Samples = append(p.Samples, FDSample{At: h.at[i], Open: h.n[i]})
	}
	return p, time.Duration(p.ReachesLimitIn) <= horizon
}
