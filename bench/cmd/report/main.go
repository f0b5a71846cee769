//go:build linux

// Command report runs resreap's performance comparison and writes
// bench/results.md and bench/scan-cost.svg. `make bench` builds its inputs
// and runs it; see package bench/harness for what is measured and how.
//
//	go run ./bench/cmd/report -resreap bin/resreap -sockload bin/sockload -child bin/benchchild
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resreap/resreap/bench/harness"
)

func main() {
	cfg := harness.Config{}
	var sizes string
	flag.StringVar(&cfg.Resreap, "resreap", "bin/resreap", "resreap `binary`")
	flag.StringVar(&cfg.Sockload, "sockload", "bin/sockload", "sockload `binary` (bench/cmd/sockload)")
	flag.StringVar(&cfg.Child, "child", "bin/benchchild", "benchchild `binary` (bench/cmd/benchchild)")
	flag.StringVar(&cfg.OutDir, "out", "bench", "write results.md and the chart to this `directory`")
	flag.StringVar(&cfg.Chart, "chart", "scan-cost.svg", "chart file `name` (.svg)")
	flag.StringVar(&sizes, "sizes", "1000,10000,50000,100000", "socket table `sizes`, comma-separated")
	flag.IntVar(&cfg.CloseWait, "close-wait", 100, "CLOSE_WAIT `sockets` held at every size")
	flag.IntVar(&cfg.Rounds, "rounds", 7, "measured `rounds` per size, after one warm-up round")
	flag.IntVar(&cfg.QuietAt, "quiet-at", 50000, "also measure a load of this `size` without CLOSE_WAIT sockets (0: skip)")
	flag.IntVar(&cfg.QuietRounds, "quiet-rounds", 3, "measured `rounds` of the load without CLOSE_WAIT")
	flag.IntVar(&cfg.WalkAt, "walk-at", 100000, "compare the owner walks (CLOSE_WAIT held by a small process, then by the largest) at this `size` (0: skip)")
	flag.IntVar(&cfg.SupervisorAt, "supervisor-at", 50000, "measure the supervisor while the load of this `size` is up (0: skip)")
	flag.IntVar(&cfg.IdleChildren, "idle-children", 50, "idle `children` supervised for the RSS/CPU figure")
	flag.DurationVar(&cfg.IdleFor, "idle-for", 60*time.Second, "`duration` of the RSS/CPU measurement")
	flag.IntVar(&cfg.TickOps, "tick-ops", 50, "`ops` per case of the health-tick benchmark of a 15,000-fd leaker (0: skip)")
	flag.IntVar(&cfg.Restarts, "restarts", 200, "`restarts` timed for the restart latency")
	flag.IntVar(&cfg.Detections, "detections", 10, "`leaks` timed for the detection latency, with each source")
	var sourceSizes string
	flag.StringVar(&sourceSizes, "source-sizes", "1000,10000,100000,300000", "socket table `sizes` at which the BPF event source and the dump are compared (\"\": none)")
	flag.IntVar(&cfg.SourceTicks, "source-ticks", 100, "health `ticks` per source and size")
	flag.IntVar(&cfg.ConnRounds, "conn-rounds", 9, "`rounds` of a connection-heavy load with and without the BPF program, each (0: skip)")
	flag.DurationVar(&cfg.ConnRound, "conn-round", 2*time.Second, "`duration` of one round of the connection-heavy load")
	flag.BoolVar(&cfg.SourcesOnly, "sources-only", false, "measure the CLOSE_WAIT sources alone (ticks, connection cost, detection) and write -output")
	flag.StringVar(&cfg.Output, "output", "results.md", "report `file` name inside -out")
	flag.StringVar(&cfg.Baseline, "baseline", os.Getenv("RESREAP_BENCH_BASELINE"),
		"also measure this resreap `binary` (an earlier build) at rest and in the cost section, beside this one; default $RESREAP_BENCH_BASELINE")
	cc := &cfg.Cost
	var costMem string
	flag.IntVar(&cc.At, "cost-at", 36000, "run the cost section (issue 23) with this many `sockets` on the host for the watchdog cases (0: skip)")
	flag.IntVar(&cc.CloseWait, "cost-close-wait", 100, "CLOSE_WAIT `sockets` the leaker of the watchdog cases holds")
	flag.IntVar(&cc.Foreign, "cost-foreign", 20, "CLOSE_WAIT `sockets` another process holds beside the leaker")
	flag.IntVar(&cc.Rounds, "cost-rounds", 7, "measured `rounds` of the watchdog and stop/start comparisons")
	flag.IntVar(&cc.Leaks, "cost-leaks", 100, "`leaks` timed per detection case")
	flag.IntVar(&cc.Leakers, "cost-leakers", 10, "leaking `children` at once in a detection case")
	flag.StringVar(&costMem, "cost-mem", "50,500", "children `counts` of the memory case, comma-separated")
	flag.DurationVar(&cc.MemFor, "cost-mem-for", 30*time.Second, "`duration` of each memory sample run")
	flag.IntVar(&cc.Many, "cost-many", 500, "`children` started and stopped together (0: skip)")
	flag.StringVar(&cc.ForkFloor, "forkfloor", "bin/forkfloor", "forkfloor `binary` (bench/cmd/forkfloor), the floor of starting and stopping")
	flag.Parse()

	if cc.At > 0 {
		for _, s := range strings.Split(costMem, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "report: bad -cost-mem %q\n", s)
				os.Exit(2)
			}
			cc.Mem = append(cc.Mem, n)
		}
	}
	for _, s := range strings.Split(sizes, ",") {
		if strings.TrimSpace(s) == "" {
			continue // -sizes "": no scan comparison
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "report: bad size %q\n", s)
			os.Exit(2)
		}
		cfg.Sizes = append(cfg.Sizes, n)
	}
	for _, s := range strings.Split(sourceSizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "report: bad source size %q\n", s)
			os.Exit(2)
		}
		cfg.SourceSizes = append(cfg.SourceSizes, n)
	}
	paths := []*string{&cfg.Resreap, &cfg.Sockload, &cfg.Child}
	if cfg.Baseline != "" {
		paths = append(paths, &cfg.Baseline)
	}
	if cc.At > 0 {
		paths = append(paths, &cc.ForkFloor)
	}
	for _, p := range paths {
		if _, err := os.Stat(*p); err != nil {
			fmt.Fprintf(os.Stderr, "report: %v (run `make bench`, which builds it)\n", err)
			os.Exit(2)
		}
		// Commands run with a working directory of their own.
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	start := time.Now()
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := harness.Run(ctx, cfg)
	if rep != nil {
		cfg.Logf("wrote %s/%s and %s/%s", cfg.OutDir, cfg.Output, cfg.OutDir, cfg.Chart)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}
