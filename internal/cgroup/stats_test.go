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
	}{{"memory.current", next.HasMemory}, {"pids.current", next.HasPids}} {
		_, err := os.Stat(g.file(f.file))
		if (err == nil) != f.has {
			t.Errorf("%s exists: %v, Has flag: %v", f.file, err == nil, f.has)
		}
	}
	if next.HasPids && next.PidsCurrent != 1 {
		t.Errorf("PidsCurrent = %d, want 1", next.PidsCurrent)
	}
	t.Logf("%+v", next)
}
