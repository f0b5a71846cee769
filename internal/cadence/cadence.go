//go:build linux

// Package cadence keeps periodic work at a fixed rate: each run is due one
// interval after the previous one was due, not one interval after it
// ended or after the timer that started it fired.
//
// A loop that arms its timer for the interval once a run is over drifts
// by the run's length and the timer's latency at every run: a health
// scan of 100k sockets every second ran 58 times a minute, and a leak
// persisting for two scans was judged up to a quarter of a second after
// the two intervals it should take. Here the due times are the points
// base + k×interval of a grid: a run that starts late does not push the
// next one, and when a run is late by more than an interval the runs
// missed are skipped, not made up in a burst.
//
//	s := cadence.New(time.Now(), time.Second)
//	for s.Wait(ctx) {
//		scan(s.Stamp(time.Now()))
//		s.Advance(time.Now())
//	}
package cadence

import (
	"context"
	"time"
)

// Next returns when work that was due at due and runs every interval is
// next due, as of now: due + interval, or when that is not after now (the
// run ended more than an interval late) the first due + k×interval after
// now. An interval of 0 or less is taken as due: now.
func Next(due time.Time, interval time.Duration, now time.Time) time.Time {
	if interval <= 0 {
		return now
	}
	next := due.Add(interval)
	if next.After(now) {
		return next
	}
	return due.Add((now.Sub(due)/interval + 1) * interval)
}

// First returns the first point of the grid base + k×interval (k ≥ 0) at
// or after now: when work joining others of the same interval is first
// due, so that all of them run together.
func First(base time.Time, interval time.Duration, now time.Time) time.Time {
	if interval <= 0 || !now.After(base) {
		return base
	}
	k := (now.Sub(base) + interval - 1) / interval
	return base.Add(k * interval)
}

// Stamp returns the time a run that was due at due and began at now
// stands for: due, when it began within Slack(interval) of it, else now.
// Runs stamped with their due times are exactly an interval apart, as
// work that counts intervals (a socket seen by two scans an interval
// apart) needs: stamped with the moment each began, two runs a timer
// fired a millisecond late and then on time fall a millisecond short.
// A run that began later than the slack is stamped when it began: what
// it sees may be younger than its due time.
func Stamp(due time.Time, interval time.Duration, now time.Time) time.Time {
	if now.Sub(due) <= Slack(interval) {
		return due
	}
	return now
}

// Slack is how late after its due time a run may begin and still be
// stamped with it: a tenth of the interval, well over a timer's latency
// on a busy machine.
func Slack(interval time.Duration) time.Duration { return interval / 10 }

// Schedule is a fixed-rate series of due times for one loop.
type Schedule struct {
	interval time.Duration
	due      time.Time
}

// New returns a Schedule first due at first, then every interval.
func New(first time.Time, interval time.Duration) *Schedule {
	return &Schedule{interval: interval, due: first}
}

// Due returns when the next run is due.
func (s *Schedule) Due() time.Time { return s.due }

// Stamp is Stamp of the run due now that began at now.
func (s *Schedule) Stamp(now time.Time) time.Time { return Stamp(s.due, s.interval, now) }

// Advance moves the schedule past the run just made, as of now (see
// Next), and returns the new due time.
func (s *Schedule) Advance(now time.Time) time.Time {
	s.due = Next(s.due, s.interval, now)
	return s.due
}

// Wait waits until the next run is due; false when ctx is done first.
func (s *Schedule) Wait(ctx context.Context) bool {
	d := time.Until(s.due)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
