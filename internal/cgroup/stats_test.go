//go:build linux

package cgroup

import (
	"os"
	"testing"
	"time"
)

func TestStatsBusyChild(t *testing.T) {
	g := newTestGroup(t)
	first, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if first.CPUUsage != 0 {
		t.Errorf("empty cgroup: CPUUsage = %v", first.CPUUsage)
	}
	startIn(t, g, "sh", "-c", "while :; do :; done")
	var last Stats
	waitFor(t, "50ms of CPU time", func() (bool, error) {
		var err error
		last, err = g.Stats()
		return last.CPUUsage >= 50*time.Millisecond, err
	})
	next := last
	waitFor(t, "CPU time to grow", func() (bool, error) {
		var err error
		next, err = g.Stats()
		return next.CPUUsage > last.CPUUsage, err
	})
	if next.CPUUser == 0 {
		t.Errorf("busy shell loop: CPUUser = 0 (%+v)", next)
	}
	for _, f := range []struct {
		file string
		has  bool
	}{{"memory.current", next.HasMemory}, {"pids.current", !next.PidsCounted}} {
		_, err := os.Stat(g.file(f.file))
		if (err == nil) != f.has {
			t.Errorf("%s exists: %v, read from it: %v", f.file, err == nil, f.has)
		}
	}
	// Tasks are known either way: from pids.current, or counted from
	// cgroup.threads without the pids controller (a hybrid host).
	if !next.HasPids || next.PidsCurrent != 1 {
		t.Errorf("PidsCurrent = %d (known %v), want 1", next.PidsCurrent, next.HasPids)
	}
	t.Logf("%+v", next)
}
