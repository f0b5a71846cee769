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
		// The cost section, with the same binary as the build before.
		cfg.Baseline = resreap
		cfg.Cost = CostConfig{At: 2000, CloseWait: 10, Foreign: 3, Rounds: 1, Leaks: 2, Leakers: 2,
			Mem: []int{2, 4}, MemFor: time.Second, Many: 5, ForkFloor: build("forkfloor", "../cmd/forkfloor")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
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
		if len(rep.Tick) != 3 || rep.Tick[0].Name != "ss" || rep.Tick[1].CPU <= 0 || !rep.Tick[2].HasLinks || rep.Tick[2].Readlinks == 0 {
			t.Errorf("health tick: %+v, want ss, then cgroup and walk cases, the walk reading fds", rep.Tick)
		}
		if rep.Restart == nil || rep.Restart.Child.N != cfg.Restarts {
			t.Errorf("restart latency: %+v", rep.Restart)
		}
		if rep.Detect == nil || rep.Detect.LeakToStart.N != 1 {
			t.Errorf("detection latency: %+v", rep.Detect)
		}
		checkCost(t, rep)
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

// checkCost checks that every point of the cost section was measured, for
// both builds.
func checkCost(t *testing.T, rep *Report) {
	t.Helper()
	c := rep.Cost
	if c == nil || len(c.Builds) != 2 {
		t.Fatalf("cost section: %+v", c)
	}
	if len(c.Watch) != len(watchCases) {
		t.Errorf("%d watchdog cases, want %d", len(c.Watch), len(watchCases))
	}
	for _, w := range c.Watch {
		for _, b := range c.Builds {
			if tr := w.Scan.tool("resreap watch --once (" + b + ")"); tr == nil || tr.Err != "" || len(tr.CPU) != 1 {
				t.Errorf("%s: watch --once of %s not measured: %+v", w.Setting.Name, b, tr)
			}
		}
	}
	if len(c.Detect) != 4 {
		t.Errorf("%d detection cases, want run and watch for both builds", len(c.Detect))
	}
	for _, d := range c.Detect {
		if d.Latency.N != 2 || d.Latency.Min < time.Duration(detectPersist-1)*detectInterval/2 {
			t.Errorf("detection under %s, %s: %+v", d.Mode, d.Build, d.Latency)
		}
	}
	if len(c.Mem) != 4 {
		t.Errorf("%d memory cases, want 2 counts for both builds", len(c.Mem))
	}
	for _, m := range c.Mem {
		if m.RSS == 0 || m.Anon == 0 || m.File == 0 || m.Goroutines == 0 {
			t.Errorf("memory of %d children, %s: %+v", m.Children, m.Build, m)
		}
	}
	if m := c.Many; m == nil || len(m.Stop["floor"]) != 1 || len(m.Stop["after"]) != 1 || len(m.Start["before"]) != 1 {
		t.Errorf("start and stop of many: %+v", m)
	}
	md, err := os.ReadFile(filepath.Join(rep.Config.OutDir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "## Cost at the limit (issue 23)") {
		t.Error("results.md lacks the cost section")
	}
}
