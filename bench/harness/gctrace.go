//go:build linux

package harness

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"time"
)

// GCTrace sums up the gctrace lines of a Go program's log.
type GCTrace struct {
	Cycles int // collections in the measured span
	Forced int // of which forced (the runtime collects at least every 2 minutes)
	Total  int // collections since the start
	LiveMB int // heap marked live by the last collection
	// GoalMB is the heap goal that last collection ran for (gctrace prints
	// the goal of the cycle it reports); with GOGC=100 the next goal is
	// about twice LiveMB.
	GoalMB   int
	Parsed   bool
	LastAtMS int // when the last collection ran, ms since the start
}

var gcLine = regexp.MustCompile(`gc (\d+) @([0-9.]+)s [^\n]*? (\d+)->(\d+)->(\d+) MB, (\d+) MB goal[^\n]*`)

// parseGCTrace reads the "gc N @Ts ..." lines of log (other output may be
// interleaved) and counts the collections between from and to (times
// since the program started).
func parseGCTrace(log []byte, from, to time.Duration) GCTrace {
	var g GCTrace
	for _, m := range gcLine.FindAllSubmatch(log, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		at, _ := strconv.ParseFloat(string(m[2]), 64)
		live, _ := strconv.Atoi(string(m[5]))
		goal, _ := strconv.Atoi(string(m[6]))
		g.Parsed = true
		g.Total = max(g.Total, n)
		g.LiveMB, g.GoalMB, g.LastAtMS = live, goal, int(math.Round(at*1000))
		if d := time.Duration(at * float64(time.Second)); d >= from && d <= to {
			g.Cycles++
			if bytes.HasSuffix(bytes.TrimSpace(m[0]), []byte("(forced)")) {
				g.Forced++
			}
		}
	}
	return g
}
