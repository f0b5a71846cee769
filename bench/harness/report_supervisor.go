//go:build linux

package harness

import (
	"fmt"
	"time"
)

func (r *Report) writeSupervisor(p func(string, ...any)) {
	if r.Idle == nil && r.Restart == nil {
		return
	}
	p("## Supervisor\n\n")
	p("Measured while the %s-socket load was up.\n\n", sizeLabel(r.Config.SupervisorAt))
	r.writeIdle(p)
	lat := latRow(p)
	if rs := r.Restart; rs != nil {
		p("### Restart latency: child exit → next child running, backoff 0\n\n")
		p("| | median | p99 | min | max | n |\n|---|---:|---:|---:|---:|---:|\n")
		lat("exit → next start, timed by the children", rs.Child)
		lat("exit → start events in the history (ms timestamps)", rs.History)
		lat("reference: fork + exec + Go start-up of the child, from the harness", rs.Exec)
		p("\nThe child's timestamps are its last instruction before `exit(1)` and its first after " +
			"Go's start-up, so the first line includes one process start-up (third line).\n\n")
	}
}

// latRow returns a writer of one row of a latency table.
func latRow(p func(string, ...any)) func(string, Latencies) {
	return func(name string, l Latencies) {
		if l.N == 0 {
			p("| %s | – | – | – | – | 0 |\n", name)
			return
		}
		p("| %s | %s | %s | %s | %s | %d |\n", name, dur(l.Median), dur(l.P99), dur(l.Min), dur(l.Max), l.N)
	}
}

// writeDetection writes the detection latency with each source measured.
func (r *Report) writeDetection(p func(string, ...any)) {
	var ds []*DetectResult
	for _, d := range []*DetectResult{r.Detect, r.DetectDump} {
		if d != nil {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return
	}
	d := ds[0]
	p("### Detection latency: CLOSE_WAIT leak → restart, interval %s, persist %d, threshold 1\n\n", d.Interval, d.Persist)
	if !r.Config.SourcesOnly && r.Config.SupervisorAt > 0 {
		p("Measured while the %s-socket load was up.\n\n", sizeLabel(r.Config.SupervisorAt))
	}
	p("| health.source | | median | p99 | min | max | n |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, d := range ds {
		lat := latRow(func(f string, a ...any) { p("| %s "+f, append([]any{d.Source}, a...)...) })
		lat("leak → SIGTERM received by the child", d.LeakToTerm)
		lat("leak → stop event in the history (child reaped)", d.LeakToStop)
		lat("leak → next child running", d.LeakToStart)
	}
	p("\nThe child leaks one socket at a random moment 0.5–1.5 s after it starts, so the leak "+
		"falls anywhere between two scans. With persist %d the socket must be seen by %d "+
		"consecutive scans: expect between %s and %s, plus the stop. The event source "+
		"answers the same scans from its map, so it should detect neither earlier nor later.\n\n",
		d.Persist, d.Persist, time.Duration(d.Persist-1)*d.Interval, time.Duration(d.Persist)*d.Interval)
}

func (r *Report) writeIdle(p func(string, ...any)) {
	cols := []*IdleResult{r.Idle, r.IdleOff, r.IdleBase}
	names := []string{"this build, health checks on", "this build, health checks off", "baseline, health checks on"}
	var rs []*IdleResult
	p("### At rest: %d idle children (`sleep infinity`), health check every 1 s\n\n", r.Config.IdleChildren)
	p("|")
	for i, c := range cols {
		if c != nil {
			rs = append(rs, c)
			p(" | %s", names[i])
		}
	}
	if len(rs) == 0 {
		return
	}
	p(" |\n|---|")
	for range rs {
		p("---:|")
	}
	p("\n")
	row := func(name string, cell func(i *IdleResult) string) {
		p("| %s |", name)
		for _, i := range rs {
			p(" %s |", cell(i))
		}
		p("\n")
	}
	mib := func(kb int) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
	row("binary (`resreap version`)", func(i *IdleResult) string { return "`" + i.Binary + "`" })
	row(fmt.Sprintf("RSS, median of %d samples", int(rs[0].Duration.Seconds())), func(i *IdleResult) string { return mib(i.RSSMedian) })
	row("RSS, max / VmHWM", func(i *IdleResult) string { return mib(i.RSSMax) + " / " + mib(i.HWM) })
	row("CPU, % of one core", func(i *IdleResult) string {
		return fmt.Sprintf("%.2f %% (%.2f s in %s)", i.CPUPercent, i.CPUSeconds, i.Duration.Round(time.Second))
	})
	row("Go GC: collections in the span (forced)", func(i *IdleResult) string {
		if !i.GC.Parsed {
			return "none since the start"
		}
		return fmt.Sprintf("%d (%d)", i.GC.Cycles, i.GC.Forced)
	})
	row("Go heap at the last collection: goal it ran for, live after it", func(i *IdleResult) string {
		if !i.GC.Parsed {
			return "–"
		}
		return fmt.Sprintf("%d MB, %d MB (GC %d, at %.0f s)", i.GC.GoalMB, i.GC.LiveMB, i.GC.Total, float64(i.GC.LastAtMS)/1000)
	})
	row("threads", func(i *IdleResult) string { return fmt.Sprint(i.Threads) })
	row("socket reader", func(i *IdleResult) string { return i.Reader })
	row("TCP sockets on the host", func(i *IdleResult) string { return fmt.Sprint(i.Sockets) })
	row(fmt.Sprintf("history events besides the %d starts", r.Config.IdleChildren), func(i *IdleResult) string { return fmt.Sprint(i.Events) })
	p("\n")
	if on, off := r.Idle, r.IdleOff; on != nil && off != nil {
		p("The health checks cost %.1f MiB of RSS (median, on − off) and %.2f %% of a core",
			float64(on.RSSMedian-off.RSSMedian)/1024, on.CPUPercent-off.CPUPercent)
		if b := r.IdleBase; b != nil {
			p("; with health checks on, the baseline used %+.1f MiB of RSS and %+.2f %% of a core against this build "+
				"(its cost alone is not measured: the builds differ in more than the checks)",
				float64(b.RSSMedian-on.RSSMedian)/1024, b.CPUPercent-on.CPUPercent)
		}
		p(". The Go runtime (GOGC=100) lets the heap grow to about twice what the last " +
			"collection found live before it collects again, and collects at least every 2 " +
			"minutes: what the scans allocate stays in RSS until then, so the RSS the checks add " +
			"follows their garbage per tick and the heap goal, not the memory they hold. The live " +
			"heap counts buffers allocated but never written to (not in RSS), which raise the goal " +
			"all the same.\n\n")
	}
}
