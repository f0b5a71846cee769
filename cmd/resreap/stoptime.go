//go:build linux

package main

import (
	"math"
	"time"

	"github.com/resreap/resreap/internal/config"
)

// stopTime is how long one stop of c can take at most: each signal's wait
// of its escalation, then kill_wait after SIGKILL.
func stopTime(c *config.ChildSpec) time.Duration {
	d := c.Stop.KillWait
	for _, s := range c.Stop.Steps {
		d += s.Wait
	}
	return d
}

// shutdownTime is how long resreap's shutdown can take at most for cfg:
// it stops dependents before their dependencies, one dependency level
// after another, the children of a level together (Supervisor.shutdown),
// so it is the sum over the levels of the longest stop in each. slowest
// names the child with the longest stop of each level, last level first,
// as the shutdown goes. A grace period (docker stop's timeout, a pod's
// terminationGracePeriodSeconds, systemd's TimeoutStopSec) shorter than
// this may kill children before their escalation is done.
func shutdownTime(cfg *config.Config) (total time.Duration, slowest []string) {
	levels, _ := config.StartLevels(cfg.Children)
	for i := len(levels) - 1; i >= 0; i-- {
		var longest time.Duration
		name := ""
		for _, n := range levels[i] {
			if c := cfg.Child(n); c != nil && (name == "" || stopTime(c) > longest) {
				longest, name = stopTime(c), n
			}
		}
		if name != "" {
			total += longest
			slowest = append(slowest, name)
		}
	}
	return total, slowest
}

// wholeSeconds rounds d up to whole seconds, as grace periods are given.
func wholeSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}
