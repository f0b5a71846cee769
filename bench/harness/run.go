//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Config says what to measure.
type Config struct {
	Resreap  string // resreap binary
	Sockload string // bench/cmd/sockload binary
	Child    string // bench/cmd/benchchild binary
	OutDir   string // results.md and the chart go here

	Sizes     []int  // socket table sizes, ascending
	CloseWait int    // CLOSE_WAIT sockets held at every size
	Rounds    int    // measured rounds per size, after one warm-up round
	Tools     []Tool // nil: DefaultTools(Resreap)

	// QuietAt, when > 0, adds one more load of that size holding no
	// CLOSE_WAIT socket, measured for QuietRounds rounds: what the scan
	// costs when nothing needs mapping to an owner.
	QuietAt     int
	QuietRounds int

	// WalkAt, when > 0, compares the owner walks at that size: the
	// CLOSE_WAIT sockets held by a small process of their own, then by the
	// process holding the most fds (WalkHolders), each measured with
	// WalkTools for Rounds rounds.
	WalkAt int

	// The supervisor is measured while the load of this size is up; 0
	// measures nothing of the supervisor.
	SupervisorAt int
	IdleChildren int
	IdleFor      time.Duration
	Restarts     int
	Detections   int // per source (bpf, dump)
	// TickOps, when > 0, runs the health-tick benchmark (MeasureTick)
	// with that many ops per case while the SupervisorAt load is up.
	TickOps int
	// Baseline, when set, is another resreap binary (an earlier build)
	// measured at rest too, health checks on, beside this one, and in
	// every case of the cost section.
	Baseline string

	// Cost, when Cost.At > 0, runs the cost section (cost.go): the five
	// points of issue 23 for this build and Baseline.
	Cost CostConfig

	// SourceSizes are the socket table sizes at which a health tick with
	// the BPF event source and with the netlink dump are compared
	// (MeasureSourceTicks), SourceTicks ticks per source at each size;
	// none compares nothing.
	SourceSizes []int
	SourceTicks int
	// ConnRounds, when > 0, measures the BPF program's cost to a
	// connection-heavy load (MeasureConnCost): that many rounds of
	// ConnRound with it and as many without.
	ConnRounds int
	ConnRound  time.Duration
	// SourcesOnly measures the sources alone (SourceSizes, ConnRounds
	// and the detection latency with both) and writes OutDir/Output.
	SourcesOnly bool
	Output      string // the report's file name in OutDir; "" is results.md

	Chart string // file name of the chart inside OutDir ("scan-cost.svg")

	Logf func(format string, args ...any) // progress; nil is silent
}

// Report is everything measured, as written to results.md.
type Report struct {
	Config   Config
	Started  time.Time
	Elapsed  time.Duration
	Machine  Machine
	Scans    []ScanResult
	Quiet    *ScanResult // the QuietAt load, without CLOSE_WAIT
	Walks    []WalkResult
	Idle     *IdleResult // health checks on
	IdleOff  *IdleResult // the same without health checks
	IdleBase *IdleResult // Config.Baseline, health checks on
	Tick     []TickResult
	Restart  *RestartResult
	Detect   *DetectResult // health.source = bpf
	// DetectDump is Detect with health.source = dump.
	DetectDump *DetectResult
	Sources    []SourceTick
	Conn       *ConnCost
	Cost       *CostResult
	Failures   []string // measurements that could not be made, and why
}

// Run measures, writes OutDir/results.md and the chart, and returns the
// report. A measurement that fails is noted in the report and in the
// returned error; the rest still runs.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Tools == nil {
		cfg.Tools = DefaultTools(cfg.Resreap)
	}
	if cfg.Chart == "" {
		cfg.Chart = "scan-cost.svg"
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rep := &Report{Config: cfg, Started: time.Now(), Machine: DescribeMachine()}
	fail := func(what string, err error) {
		logf("%s: %v", what, err)
		rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %v", what, err))
	}

	// scanAt puts a load of size sockets, closeWait of them in CLOSE_WAIT
	// (held apart or not), measures tools and then runs also (the
	// supervisor measurements, the fd counts) while the load is still up.
	scanAt := func(size, closeWait, rounds int, apart bool, tools []Tool, also func(l *Load)) *ScanResult {
		logf("load: %d sockets (%d in CLOSE_WAIT, apart %v)", size, closeWait, apart)
		load, err := StartLoad(ctx, cfg.Sockload, size, closeWait, apart)
		if err != nil {
			fail(fmt.Sprintf("load of %d sockets", size), err)
			return nil
		}
		defer load.Stop()
		res := &ScanResult{Target: size, Rounds: rounds}
		if res.Sockets, res.CloseWait, err = CountSockets(); err != nil {
			fail("socket count", err)
			return nil
		}
		logf("  %s; table holds %d sockets, %d in CLOSE_WAIT", load.Ready, res.Sockets, res.CloseWait)
		res.Tools, err = MeasureScans(ctx, tools, rounds, logf)
		if err != nil {
			fail(fmt.Sprintf("scans at %d sockets", size), err)
			res = nil
		}
		if also != nil {
			also(load)
		}
		return res
	}
	sizes := cfg.Sizes
	if cfg.SourcesOnly {
		sizes = nil
		cfg.QuietAt, cfg.WalkAt, cfg.Cost.At = 0, 0, 0
	}
	for _, size := range sizes {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		var also func(*Load)
		if size == cfg.SupervisorAt {
			also = func(*Load) { measureSupervisor(ctx, cfg, rep, logf, fail) }
		}
		if res := scanAt(size, cfg.CloseWait, cfg.Rounds, false, cfg.Tools, also); res != nil {
			rep.Scans = append(rep.Scans, *res)
		}
	}
	if cfg.QuietAt > 0 && ctx.Err() == nil {
		rep.Quiet = scanAt(cfg.QuietAt, 0, max(cfg.QuietRounds, 1), false, cfg.Tools, nil)
	}
	for _, h := range WalkHolders {
		if cfg.WalkAt <= 0 || ctx.Err() != nil {
			break
		}
		w := WalkResult{Holder: h}
		res := scanAt(cfg.WalkAt, cfg.CloseWait, cfg.Rounds, h.Apart, WalkTools(cfg.Resreap), func(l *Load) {
			var err error
			if w.HolderFDs, w.LargestFDs, err = holderFDs(l.Ready, h.Apart); err != nil {
				fail("owner walk: fd counts", err)
			}
			w.HostFDs, w.Processes = hostFDs()
			logf("  holder %d fds, largest other worker %d fds; host %d fds in %d processes",
				w.HolderFDs, w.LargestFDs, w.HostFDs, w.Processes)
		})
		if res != nil {
			w.Scan = *res
			rep.Walks = append(rep.Walks, w)
		}
	}

	if cfg.Cost.At > 0 && ctx.Err() == nil {
		rep.Cost = measureCost(ctx, cfg, logf, fail)
	}
	measureSources(ctx, cfg, rep, logf, fail)

	rep.Elapsed = time.Since(rep.Started)
	rep.Machine.LoadEnd = loadAvg()
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return rep, err
	}
	if len(rep.Scans) > 0 {
		if err := WriteChart(filepath.Join(cfg.OutDir, cfg.Chart), rep.Scans); err != nil {
			fail("chart", err)
		}
	}
	name := cfg.Output
	if name == "" {
		name = "results.md"
	}
	f, err := os.Create(filepath.Join(cfg.OutDir, name))
	if err != nil {
		return rep, err
	}
	werr := rep.WriteMarkdown(f)
	if err := errors.Join(werr, f.Close()); err != nil {
		return rep, err
	}
	if len(rep.Failures) > 0 {
		return rep, fmt.Errorf("%d measurement(s) failed: %s", len(rep.Failures), rep.Failures[0])
	}
	return rep, nil
}

// benchDirs makes a temporary directory for a measurement: sub returns a
// directory of that name inside it, made if missing; cleanup removes it
// all.
func benchDirs() (sub func(name string) string, cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", "resreap-bench-")
	if err != nil {
		return nil, nil, err
	}
	sub = func(name string) string {
		d := filepath.Join(tmp, name)
		_ = os.MkdirAll(d, 0o755)
		return d
	}
	return sub, func() { os.RemoveAll(tmp) }, nil
}

func measureSupervisor(ctx context.Context, cfg Config, rep *Report, logf func(string, ...any), fail func(string, error)) {
	sub, cleanup, err := benchDirs()
	if err != nil {
		fail("supervisor", err)
		return
	}
	defer cleanup()
	if cfg.IdleChildren > 0 && cfg.IdleFor > 0 {
		idle := func(what, bin, dir string, health bool) *IdleResult {
			logf("supervisor at rest, %s: %d idle children for %s", what, cfg.IdleChildren, cfg.IdleFor)
			r, err := MeasureIdle(ctx, bin, sub(dir), cfg.IdleChildren, cfg.IdleFor, health)
			if err != nil {
				fail("supervisor at rest, "+what, err)
				return nil
			}
			logf("  RSS median %d kB, max %d kB; CPU %.2f%% (%.2f s in %s); GC %d cycles, last %d MB live, %d MB goal; reader %q",
				r.RSSMedian, r.RSSMax, r.CPUPercent, r.CPUSeconds, r.Duration.Round(time.Second),
				r.GC.Cycles, r.GC.LiveMB, r.GC.GoalMB, r.Reader)
			return &r
		}
		rep.Idle = idle("health checks on", cfg.Resreap, "idle", true)
		rep.IdleOff = idle("health checks off", cfg.Resreap, "idle-off", false)
		if cfg.Baseline != "" {
			rep.IdleBase = idle("baseline "+cfg.Baseline, cfg.Baseline, "idle-base", true)
		}
	}
	if cfg.TickOps > 0 {
		logf("health tick of a 15,000-fd leaker: %s, %d ops per case", TickPattern, cfg.TickOps)
		if r, err := MeasureTick(ctx, cfg.TickOps); err != nil {
			fail("health tick", err)
		} else {
			rep.Tick = r
			for _, t := range r {
				logf("  %s: %s CPU, %.0f readlinks", t.Name, t.CPU, t.Readlinks)
			}
		}
	}
	if cfg.Restarts > 0 {
		logf("restart latency: %d restarts", cfg.Restarts)
		if r, err := MeasureRestarts(ctx, cfg.Resreap, cfg.Child, sub("restart"), cfg.Restarts); err != nil {
			fail("restart latency", err)
		} else {
			rep.Restart = &r
			logf("  median %s, p99 %s (history: median %s; exec alone: median %s)",
				r.Child.Median, r.Child.P99, r.History.Median, r.Exec.Median)
		}
	}
	measureDetections(ctx, cfg, rep, sub, logf, fail)
}

// measureDetections times the detection latency with each source.
func measureDetections(ctx context.Context, cfg Config, rep *Report, sub func(string) string, logf func(string, ...any), fail func(string, error)) {
	if cfg.Detections <= 0 {
		return
	}
	for _, src := range []string{"bpf", "dump"} {
		logf("detection latency, health.source = %s: %d leaks", src, cfg.Detections)
		r, err := MeasureDetection(ctx, cfg.Resreap, cfg.Child, sub("detect-"+src), src, cfg.Detections)
		if err != nil {
			fail("detection latency ("+src+")", err)
			continue
		}
		logf("  leak → TERM median %s, leak → restarted median %s (max %s)",
			r.LeakToTerm.Median, r.LeakToStart.Median, r.LeakToStart.Max)
		if src == "bpf" {
			rep.Detect = &r
		} else {
			rep.DetectDump = &r
		}
	}
}

// measureSources compares the health tick with the BPF event source and
// with the dump at each of SourceSizes, the program's cost to a
// connection-heavy load, and (with SourcesOnly) the detection latency with
// both sources.
func measureSources(ctx context.Context, cfg Config, rep *Report, logf func(string, ...any), fail func(string, error)) {
	if len(cfg.SourceSizes) > 0 && cfg.SourceTicks > 0 && ctx.Err() == nil {
		rep.Sources = MeasureSourceTicksAt(ctx, cfg.Sockload, cfg.SourceSizes, cfg.CloseWait, cfg.SourceTicks, 5, logf)
		for _, s := range rep.Sources {
			if s.Err != "" {
				fail(fmt.Sprintf("source ticks at %d sockets", s.Target), errors.New(s.Err))
			}
		}
	}
	if cfg.ConnRounds > 0 && ctx.Err() == nil {
		logf("connections per second with and without the BPF program: %d rounds of %s each", cfg.ConnRounds, cfg.ConnRound)
		c, err := MeasureConnCost(ctx, cfg.ConnRounds, 8, cfg.ConnRound)
		if err != nil {
			fail("connection cost", err)
		} else {
			rep.Conn = &c
			logf("  without %.0f/s, with %.0f/s (%d entries into CLOSE_WAIT seen)", c.Without, c.With, c.Events)
		}
	}
	if cfg.SourcesOnly && ctx.Err() == nil {
		sub, cleanup, err := benchDirs()
		if err != nil {
			fail("detection latency", err)
			return
		}
		defer cleanup()
		measureDetections(ctx, cfg, rep, sub, logf, fail)
	}
}
