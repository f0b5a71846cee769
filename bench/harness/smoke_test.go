//go:build linux

package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
)

// TestSmoke runs the whole report once at the smallest size, with few rounds
// and a short supervisor run, to check that the harness works. The numbers
// are not looked at; `make bench` is the measurement.
func TestSmoke(t *testing.T) {
	testchild.NeedCommand(t, "ss") // the benchmark's floor; `make bench-deps` installs it
	bin := t.TempDir()
	build := func(name, pkg string) string {
		out := filepath.Join(bin, name)
		cmd := exec.Command("go", "build", "-o", out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		return out
	}
	resreap := build("resreap", "../../cmd/resreap")
	cfg := Config{
		Resreap:   resreap,
		Sockload:  build("sockload", "../cmd/sockload"),
		Child:     build("benchchild", "../cmd/benchchild"),
		OutDir:    t.TempDir(),
		Sizes:     []int{1000},
		CloseWait: 10,
		Rounds:    2,
		WalkAt:    1000,
		Logf:      t.Logf,
	}
	if !testing.Short() {
		cfg.SupervisorAt = 1000
		cfg.IdleChildren, cfg.IdleFor = 3, time.Second
		cfg.Restarts, cfg.Detections = 10, 1
		cfg.TickOps = 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scans) != 1 {
		t.Fatalf("%d scan results, want 1", len(rep.Scans))
	}
	s := rep.Scans[0]
	if s.Sockets < 1000 || s.CloseWait < 10 {
		t.Errorf("the table held %d sockets, %d in CLOSE_WAIT; want at least 1000 and 10", s.Sockets, s.CloseWait)
	}
	floor := s.Floor()
	if floor == nil || floor.Err != "" || len(floor.CPU) != cfg.Rounds || len(floor.Ratio) != cfg.Rounds {
		t.Fatalf("floor not measured: %+v", floor)
	}
	for _, tr := range s.Tools {
		if tr.Err != "" {
			t.Logf("%s not measured: %s", tr.Tool.Name, tr.Err)
		}
	}
	if len(rep.Walks) != len(WalkHolders) {
		t.Fatalf("%d owner-walk cases, want %d", len(rep.Walks), len(WalkHolders))
	}
	for _, w := range rep.Walks {
		for _, tr := range w.Scan.Tools {
			if len(tr.Tool.Count) > 0 && tr.Err == "" && (tr.Walk == nil || tr.Walk.Walks != 1 || tr.Walk.Readlinks == 0) {
				t.Errorf("%s, CLOSE_WAIT held by %s: walk %+v (%s), want one walk with readlinks",
					tr.Tool.Name, w.Holder.Name, tr.Walk, tr.WalkErr)
			}
		}
		if w.HolderFDs < cfg.CloseWait {
			t.Errorf("CLOSE_WAIT held by %s: holder has %d fds", w.Holder.Name, w.HolderFDs)
		}
	}
	if !testing.Short() {
		if rep.Idle == nil || rep.Idle.RSSMedian == 0 {
			t.Errorf("supervisor at rest not measured: %+v", rep.Idle)
		}
		if rep.IdleOff == nil || rep.IdleOff.RSSMedian == 0 || rep.IdleOff.Health {
			t.Errorf("supervisor at rest without health checks not measured: %+v", rep.IdleOff)
		}
		if len(rep.Tick) != 3 || rep.Tick[0].Name != "ss" || rep.Tick[1].CPU <= 0 || !rep.Tick[2].HasLinks || rep.Tick[2].Readlinks < 15000 {
			t.Errorf("health tick: %+v, want ss, then cgroup and walk cases, the walk reading every fd", rep.Tick)
		}
		if rep.Restart == nil || rep.Restart.Child.N != cfg.Restarts {
			t.Errorf("restart latency: %+v", rep.Restart)
		}
		if rep.Detect == nil || rep.Detect.LeakToStart.N != 1 {
			t.Errorf("detection latency: %+v", rep.Detect)
		}
	}
	md, err := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| `ss -tn state close-wait` (floor) |", "scan-cost.svg", "## Owner walk", "health checks off"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	if fi, err := os.Stat(filepath.Join(cfg.OutDir, "scan-cost.svg")); err != nil || fi.Size() == 0 {
		t.Errorf("chart not written: %v", err)
	}
}
