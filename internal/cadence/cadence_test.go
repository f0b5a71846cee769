//go:build linux

package cadence

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name           string
		due, now, want int // ms from t0; interval 1000
	}{
		{"on time", 0, 30, 1000},
		{"a late run does not push the next", 0, 700, 1000},
		{"ended just before the next", 0, 999, 1000},
		{"ended at the next", 0, 1000, 2000},
		{"more than an interval late: missed runs skipped", 0, 2500, 3000},
		{"early (a timer firing early)", 5000, 4990, 6000},
	} {
		if have := Next(at(tc.due), time.Second, at(tc.now)); !have.Equal(at(tc.want)) {
			t.Errorf("%s: Next(%d, 1s, %d) = %s, want %d ms", tc.name, tc.due, tc.now, have.Sub(t0), tc.want)
		}
	}
	if have := Next(at(0), 0, at(42)); !have.Equal(at(42)) {
		t.Errorf("interval 0: %s, want now", have.Sub(t0))
	}
}

// Whatever the lateness of each run, up to an interval, the due times are
// the grid's, one per interval: no drift, no burst.
func TestNextKeepsTheRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	due := t0
	for k := 1; k <= 10000; k++ {
		late := time.Duration(rng.IntN(999)) * time.Millisecond // the run's length and the timer's latency
		due = Next(due, time.Second, due.Add(late))
		if want := t0.Add(time.Duration(k) * time.Second); !due.Equal(want) {
			t.Fatalf("run %d: due %s, want %s", k, due.Sub(t0), want.Sub(t0))
		}
	}
}

func TestFirst(t *testing.T) {
	for _, tc := range []struct{ now, want int }{
		{-500, 0}, {0, 0}, {1, 1000}, {999, 1000}, {1000, 1000}, {1001, 2000},
	} {
		if have := First(t0, time.Second, at(tc.now)); !have.Equal(at(tc.want)) {
			t.Errorf("First(0, 1s, %d) = %s, want %d ms", tc.now, have.Sub(t0), tc.want)
		}
	}
}

func TestStamp(t *testing.T) {
	for _, tc := range []struct{ due, now, want int }{
		{1000, 1000, 1000},
		{1000, 1003, 1000}, // a timer's latency
		{1000, 1100, 1000}, // the slack: a tenth of the interval
		{1000, 1101, 1101}, // later: stamped when it began
		{1000, 999, 1000},
	} {
		if have := Stamp(at(tc.due), time.Second, at(tc.now)); !have.Equal(at(tc.want)) {
			t.Errorf("Stamp(%d, 1s, %d) = %s, want %d ms", tc.due, tc.now, have.Sub(t0), tc.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	s := New(at(0), time.Second)
	if !s.Due().Equal(at(0)) || !s.Stamp(at(4)).Equal(at(0)) {
		t.Fatalf("first due %s", s.Due().Sub(t0))
	}
	if d := s.Advance(at(300)); !d.Equal(at(1000)) {
		t.Errorf("advanced to %s, want 1s", d.Sub(t0))
	}
	if d := s.Advance(at(3500)); !d.Equal(at(4000)) {
		t.Errorf("advanced to %s, want 4s", d.Sub(t0))
	}
	// Wait returns at once for a due time past, and false when the
	// context ends first.
	now := New(time.Now().Add(-time.Second), time.Hour)
	if !now.Wait(context.Background()) {
		t.Error("Wait for a past due time: false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if New(time.Now().Add(time.Hour), time.Hour).Wait(ctx) {
		t.Error("Wait with a done context: true")
	}
}
