//go:build linux

package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The cost at the limit (issue 23): five points, each measured for this
// build and for Config.Baseline (the build before) in the same run, beside
// its floor:
//
//  1. the watchdog's owner walk: `resreap watch --once`, with and without
//     -f, when the leaker is alone in its cgroup and another process leaks
//     beside it, and when it shares its cgroup and holds the most fds
//     (cost_watch.go);
//  2. what one `resreap watch --once` asks of the kernel: its system
//     calls by kind, and its CPU when nothing persists (cost_watch.go);
//  3. detection latency over many leaks at random phases, under run and
//     under watch (cost_detect.go);
//  4. memory: RSS, anonymous and file-backed, goroutines and Go heap, at
//     two child counts, and what one more child costs (cost_mem.go);
//  5. stopping and starting many children, against a program that only
//     forks, execs, signals and waits (bench/cmd/forkfloor; cost_many.go).

// CostConfig says what the cost section measures; see Config.Cost.
type CostConfig struct {
	At        int   // sockets on the host for the watchdog cases (36000)
	CloseWait int   // CLOSE_WAIT sockets the leaker holds
	Foreign   int   // CLOSE_WAIT sockets another process holds beside it
	Rounds    int   // rounds of the watchdog and stop/start comparisons
	Leaks     int   // leaks timed per detection case
	Leakers   int   // leaking children at once in a detection case
	Mem       []int // children counts of the memory case
	MemFor    time.Duration
	Many      int    // children started and stopped together
	ForkFloor string // bench/cmd/forkfloor binary
}

// build is one resreap binary under comparison.
type build struct {
	Name string // "after" (this build) or "before" (Config.Baseline)
	Path string
}

// CostResult is everything the cost section measured.
type CostResult struct {
	Builds  []string // names, in column order: "before", "after"
	Watch   []WatchCase
	Calls   []SyscallCount
	Detect  []DetectCase
	Mem     []MemResult
	Many    *ManyResult
	Sockets int // TCP sockets on the host during the watchdog cases
}

// builds returns the binaries to compare: the baseline first, when there
// is one.
func (c Config) builds() []build {
	var bs []build
	if c.Baseline != "" {
		bs = append(bs, build{"before", c.Baseline})
	}
	return append(bs, build{"after", c.Resreap})
}

// measureCost runs the cost section; what fails is noted with fail and
// the rest goes on.
func measureCost(ctx context.Context, cfg Config, logf func(string, ...any), fail func(string, error)) *CostResult {
	cc := cfg.Cost
	res := &CostResult{}
	for _, b := range cfg.builds() {
		res.Builds = append(res.Builds, b.Name)
	}
	tmp, err := os.MkdirTemp("", "resreap-cost-")
	if err != nil {
		fail("cost", err)
		return nil
	}
	defer os.RemoveAll(tmp)
	sub := func(name string) string {
		d := filepath.Join(tmp, name)
		_ = os.MkdirAll(d, 0o755)
		return d
	}

	for _, wc := range watchCases {
		if ctx.Err() != nil {
			return res
		}
		logf("cost, watchdog: %s (%d sockets)", wc.Name, cc.At)
		c, err := measureWatchCase(ctx, cfg, wc, sub("watch"), logf)
		if err != nil {
			fail("cost, watchdog: "+wc.Name, err)
			continue
		}
		res.Watch = append(res.Watch, c)
		res.Sockets = max(res.Sockets, c.Scan.Sockets)
	}
	if ctx.Err() == nil {
		logf("cost, system calls of one watch --once")
		calls, err := countSyscalls(ctx, cfg)
		if err != nil {
			fail("cost, system calls", err)
		}
		res.Calls = calls
	}
	for _, mode := range []string{"run", "watch"} {
		for _, b := range cfg.builds() {
			if ctx.Err() != nil {
				return res
			}
			logf("cost, detection latency under %s, %s: %d leaks, %d leakers at once", mode, b.Name, cc.Leaks, cc.Leakers)
			d, err := measureDetect(ctx, cfg, b, mode, sub(fmt.Sprintf("detect-%s-%s", mode, b.Name)))
			if err != nil {
				fail(fmt.Sprintf("cost, detection under %s, %s", mode, b.Name), err)
				continue
			}
			logf("  leak → TERM median %s, p99 %s, max %s; %d of %d within the bound", d.Latency.Median, d.Latency.P99, d.Latency.Max, d.Within, d.Latency.N)
			res.Detect = append(res.Detect, d)
		}
	}
	for _, n := range cc.Mem {
		for _, b := range cfg.builds() {
			if ctx.Err() != nil {
				return res
			}
			logf("cost, memory: %s, %d idle children for %s", b.Name, n, cc.MemFor)
			m, err := measureMem(ctx, b, sub(fmt.Sprintf("mem-%d-%s", n, b.Name)), n, cc.MemFor)
			if err != nil {
				fail(fmt.Sprintf("cost, memory of %d children, %s", n, b.Name), err)
				continue
			}
			logf("  RSS %d kB (anon %d, file %d); %d goroutines, heap %d kB, stacks %d kB",
				m.RSS, m.Anon, m.File, m.Goroutines, m.HeapInuse>>10, m.StackInuse>>10)
			res.Mem = append(res.Mem, m)
		}
	}
	if cc.Many > 0 && ctx.Err() == nil {
		logf("cost, start and stop of %d children: %d rounds", cc.Many, cc.Rounds)
		m, err := measureMany(ctx, cfg, sub("many"), logf)
		if err != nil {
			fail("cost, start and stop of many", err)
		} else {
			res.Many = m
		}
	}
	return res
}
