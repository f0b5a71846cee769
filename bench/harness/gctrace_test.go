//go:build linux

package harness

import (
	"testing"
	"time"
)

func TestParseGCTrace(t *testing.T) {
	log := []byte(`{"level":"info","message":"health scan ready","reader":"netlink"}
gc 1 @0.078s 1%: 0.13+4.3+0.006 ms clock, 0.26+0.14/1.7/0.67+0.012 ms cpu, 3->3->2 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc {"level":"info","child":"idle-37","event":"start","message":"start"}
gc 3 @6.134s 0%: 0.17+1.7+0.007 ms clock, 0.34+0.14/0.32/1.0+0.015 ms cpu, 10->10->7 MB, 10 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 4 @20.5s 0%: 0.1+1+0.01 ms clock, 0.2+0.1/0.3/1+0.02 ms cpu, 14->14->7 MB, 14 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 5 @130.2s 0%: 0.1+1+0.01 ms clock, 0.2+0.1/0.3/1+0.02 ms cpu, 9->9->6 MB, 14 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
`)
	have := parseGCTrace(log, 5*time.Second, 200*time.Second)
	want := GCTrace{Cycles: 3, Forced: 1, Total: 5, LiveMB: 6, GoalMB: 14, Parsed: true, LastAtMS: 130200}
	if have != want {
		t.Errorf("parseGCTrace = %+v, want %+v", have, want)
	}
	if g := parseGCTrace([]byte("no trace\n"), 0, time.Hour); g.Parsed {
		t.Errorf("parsed %+v from a log without gctrace", g)
	}
}
