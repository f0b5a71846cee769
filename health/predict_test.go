//go:build linux

package health

import (
	"testing"
	"time"
)

// series builds an fd history of counts taken every 10s.
func series(counts ...int) *fdHistory {
	h := &fdHistory{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, n := range counts {
		h.add(t0.Add(time.Duration(i)*10*time.Second), n)
	}
	return h
}

func ramp(from, step, k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = from + i*step
	}
	return out
}

func TestPredict(t *testing.T) {
	const limit = 1024
	for _, tc := range []struct {
		name    string
		h       *fdHistory
		horizon time.Duration
		want    bool
	}{
		// 20 fds per 10s from 500: 120/min, the 724 fds left last 3.5 min.
		{"steady leak", series(ramp(500, 20, 16)...), 10 * time.Minute, true},
		{"steady leak, short horizon", series(ramp(500, 20, 16)...), time.Minute, false},
		{"slow leak", series(ramp(100, 1, 16)...), 10 * time.Minute, false}, // 6/min: hours left
		{"flat", series(ramp(300, 0, 16)...), 10 * time.Minute, false},
		{"shrinking", series(ramp(900, -20, 16)...), 10 * time.Minute, false},
		// Sawtooth: 100 -> 800 in 5 scans, back to 100: the drops spoil the fit.
		{"sawtooth", series(100, 275, 450, 625, 800, 100, 275, 450, 625, 800, 100, 275, 450, 625, 800, 100), 10 * time.Minute, false},
		// A burst that flattened: 8 scans of growth, then 8 flat.
		{"burst then flat", series(append(ramp(100, 100, 8), ramp(800, 0, 8)...)...), 10 * time.Minute, false},
		{"too few scans", series(ramp(500, 50, 7)...), 10 * time.Minute, false},
		{"no limit", series(ramp(500, 20, 16)...), 10 * time.Minute, false},
	} {
		lim := uint64(limit)
		if tc.name == "no limit" {
			lim = 0
		}
		p, got := tc.h.predict(lim, tc.horizon)
		if got != tc.want {
			t.Errorf("%s: predicted %v (slope %.1f/min, r2 %.2f, reaches limit in %s), want %v",
				tc.name, got, p.SlopePerMin, p.R2, time.Duration(p.ReachesLimitIn), tc.want)
		}
		if got && (len(p.Samples) != len(tc.h.n) || p.ReachesLimitIn <= 0) {
			t.Errorf("%s: prediction %+v lacks its samples or time", tc.name, p)
		}
	}
	p, _ := series(ramp(500, 20, 16)...).predict(limit, 10*time.Minute)
	if got, want := time.Duration(p.ReachesLimitIn).Round(time.Second), 10*time.Second*(limit-800)/20; got != want {
		t.Errorf("steady leak reaches the limit in %s, want %s", got, want)
	}
}
