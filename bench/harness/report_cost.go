//go:build linux

package harness

import (
	"fmt"
	"strings"
	"time"
)

// writeCost writes the cost section: the closing table of issue 23, then
// the detail of each point.
func (r *Report) writeCost(p func(string, ...any)) {
	c := r.Cost
	if c == nil {
		return
	}
	cc := r.Config.Cost
	p("## Cost at the limit (issue 23): before and after\n\n")
	p("Each figure beside its floor, in this one run, for the build before (`%s`) and this one (`%s`), as `resreap version` names them. ",
		firstLine(r.Config.Baseline, "version"), firstLine(r.Config.Resreap, "version"))
	p("Ratios are medians of per-round ratios (one warm-up round, then %d rounds, the order rotated each round); "+
		"the two-scan floor is twice `ss -tn state close-wait`, as `watch --once` reads the table twice.\n\n", cc.Rounds)
	p("| point | case | floor | %s | goal | met |\n|---|---|---|%s---|---|\n", strings.Join(c.Builds, " | "), strings.Repeat("---|", len(c.Builds)))
	row := func(point, name, floor string, cell func(b string) string, goal string, met func() bool) {
		p("| %s | %s | %s |", point, name, floor)
		for _, b := range c.Builds {
			p(" %s |", cell(b))
		}
		ok := "–"
		if met != nil {
			ok = map[bool]string{true: "yes", false: "**no**"}[met()]
		}
		p(" %s | %s |\n", goal, ok)
	}
	for i, w := range c.Watch {
		floor := w.Scan.Floor()
		if floor == nil {
			continue
		}
		fl := fmt.Sprintf("`ss -tn`: %s (two scans %s)", ms(floor.MedianCPU()), ms(2*floor.MedianCPU()))
		ssp, nst := w.Scan.tool("ss -tnp state close-wait"), w.Scan.tool("netstat -ntp")
		if i == 0 {
			cell := func(b string) string {
				t := w.Scan.tool("resreap watch --once -f HOLDER (" + b + ")")
				if t == nil || t.Err != "" {
					return "n/a"
				}
				s := fmt.Sprintf("%s, ×%.1f two-scan floor; `ss -tnp` ×%.1f", ms(t.MedianCPU()), t.MedianRatio()/2, ratioTo(*ssp, *t))
				if nst != nil && nst.Err == "" {
					s += fmt.Sprintf(", `netstat -ntp` ×%.1f", ratioTo(*nst, *t))
				}
				return s + fmt.Sprintf(" its cost; %s readlinks", walkCell(*t))
			}
			met := func() bool {
				t := w.Scan.tool("resreap watch --once -f HOLDER (after)")
				return t != nil && t.Err == "" && ratioTo(*ssp, *t) >= 5 && nst != nil && nst.Err == "" && ratioTo(*nst, *t) >= 20
			}
			row("1", fmt.Sprintf("`watch --once -f HOLDER`, %s, %s sockets", w.Setting.Name, sizeLabel(w.Scan.Target)), fl, cell,
				"≥ 5× cheaper than `ss -tnp`, ≥ 20× than `netstat -ntp`", met)
		}
		name := "resreap watch --once"
		goal := "≤ ×4 the two-scan floor"
		met := func() bool {
			t := w.Scan.tool(name + " (after)")
			return t != nil && t.Err == "" && t.MedianRatio()/2 <= 4
		}
		if i == 0 {
			goal, met = "", nil
		}
		row("1", fmt.Sprintf("`watch --once`, %s", w.Setting.Name), fl, func(b string) string {
			t := w.Scan.tool(name + " (" + b + ")")
			if t == nil || t.Err != "" {
				return "n/a"
			}
			return fmt.Sprintf("%s, ×%.1f two-scan floor; %s readlinks", ms(t.MedianCPU()), t.MedianRatio()/2, walkCell(*t))
		}, goal, met)
	}
	if len(c.Calls) > 0 {
		calls := map[string]SyscallCount{}
		for _, s := range c.Calls {
			calls[s.Build] = s
		}
		row("2", fmt.Sprintf("system calls of one `watch --once`, every process a candidate (%d processes)", c.Calls[0].Processes), "–",
			func(b string) string {
				s, ok := calls[b]
				if !ok {
					return "n/a"
				}
				return fmt.Sprintf("%d openat, %d read, %d fcntl, %d epoll_ctl; %d in all", s.Calls["openat"], s.Calls["read"], s.Calls["fcntl"], s.Calls["epoll_ctl"], s.Total)
			}, "no `os.File` per /proc file", func() bool { s := calls["after"]; return s.Calls["fcntl"]+s.Calls["epoll_ctl"] < 50 })
	}
	for _, mode := range []string{"run", "watch"} {
		det := map[string]DetectCase{}
		for _, d := range c.Detect {
			if d.Mode == mode {
				det[d.Build] = d
			}
		}
		if len(det) == 0 {
			continue
		}
		lo, hi := time.Duration(detectPersist-1)*detectInterval, time.Duration(detectPersist)*detectInterval
		row("3", fmt.Sprintf("detection latency under `%s`: leak → TERM, %d leaks at random phases, interval %s, persist %d", mode, cc.Leaks, detectInterval, detectPersist),
			fmt.Sprintf("[%s, %s] + escalation", dur(lo), dur(hi)), func(b string) string {
				d, ok := det[b]
				if !ok {
					return "n/a"
				}
				l := d.Latency
				return fmt.Sprintf("%d of %d within; min %s, median %s, p99 %s, max %s", d.Within, l.N, dur(l.Min), dur(l.Median), dur(l.P99), dur(l.Max))
			}, fmt.Sprintf("all within [%s, %s + %s + escalation]", dur(lo), dur(hi), dur(detectAllowance)), func() bool { d, ok := det["after"]; return ok && d.Within == d.Latency.N && d.Latency.N >= cc.Leaks })
	}
	if len(c.Mem) > 0 {
		mem := map[string]MemResult{}
		for _, m := range c.Mem {
			mem[fmt.Sprintf("%s/%d", m.Build, m.Children)] = m
		}
		lo, hi := cc.Mem[0], cc.Mem[len(cc.Mem)-1]
		mib := func(kb int) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
		row("4", fmt.Sprintf("RSS of `resreap run`, %d idle children (anonymous / file-backed)", lo), "–", func(b string) string {
			m, ok := mem[fmt.Sprintf("%s/%d", b, lo)]
			if !ok {
				return "n/a"
			}
			return fmt.Sprintf("%s (%s / %s)", mib(m.RSS), mib(m.Anon), mib(m.File))
		}, "≤ 12 MiB", func() bool { m, ok := mem[fmt.Sprintf("after/%d", lo)]; return ok && m.RSS <= 12*1024 })
		if hi > lo {
			perChild := func(b string) (rss, anon float64, ok bool) {
				a, ok1 := mem[fmt.Sprintf("%s/%d", b, lo)]
				z, ok2 := mem[fmt.Sprintf("%s/%d", b, hi)]
				n := float64(hi - lo)
				return float64(z.RSS-a.RSS) / n, float64(z.Anon-a.Anon) / n, ok1 && ok2
			}
			row("4", fmt.Sprintf("RSS per child, %d → %d children (anonymous)", lo, hi), "–", func(b string) string {
				rss, anon, ok := perChild(b)
				if !ok {
					return "n/a"
				}
				return fmt.Sprintf("%.1f KiB (%.1f KiB)", rss, anon)
			}, "≤ 10 KiB", func() bool { rss, _, ok := perChild("after"); return ok && rss <= 10 })
		}
	}
	if m := c.Many; m != nil {
		for _, fig := range []struct {
			name string
			d    map[string][]time.Duration
			goal string
			max  float64
		}{{"stop", m.Stop, "≤ ×3 the floor", 3}, {"start", m.Start, "", 0}} {
			row("5", fmt.Sprintf("%s of %d idle children", fig.name, m.Children),
				fmt.Sprintf("`forkfloor`: %s", dur(summarize(fig.d["floor"]).Median)), func(b string) string {
					if len(fig.d[b]) == 0 {
						return "n/a"
					}
					return fmt.Sprintf("%s, ×%.1f the floor", dur(summarize(fig.d[b]).Median), m.Ratio(fig.d, b))
				}, fig.goal, func() bool { return fig.max == 0 || m.Ratio(fig.d, "after") <= fig.max })
		}
	}
	p("\n")
	r.writeCostDetail(p)
}

// writeCostDetail writes the figures behind the closing table.
func (r *Report) writeCostDetail(p func(string, ...any)) {
	c := r.Cost
	cc := r.Config.Cost
	for _, w := range c.Watch {
		p("### The watchdog: %s\n\n", w.Setting.Name)
		p("%s sockets asked; the table held %d TCP sockets, %d in CLOSE_WAIT (%d held by the leaker, the load's first worker, %d fds; %d by another process beside it). "+
			"The host had %d processes holding %d fds: what `ss -tnp` reads. `-f HOLDER` is `-f '%s'`, the leaker alone (the load's workers end their command lines with a tag of this run). %d rounds.\n\n",
			sizeLabel(w.Scan.Target), w.Scan.Sockets, w.Scan.CloseWait, cc.CloseWait, w.HolderFDs, cc.Foreign, w.Processes, w.HostFDs, TaggedHolder("TAG"), w.Scan.Rounds)
		writeDetail(p, w.Scan)
	}
	if len(c.Calls) > 0 {
		p("### System calls of one `resreap watch --once`\n\n")
		p("`strace -f -c` of `resreap watch --once -d -i 0.05 --reader netlink` (every process a candidate), once per build, on a host of %d processes.\n\n", c.Calls[0].Processes)
		p("| build |")
		for _, s := range syscallsShown {
			p(" %s |", s)
		}
		p(" all |\n|---|%s---:|\n", strings.Repeat("---:|", len(syscallsShown)))
		for _, s := range c.Calls {
			p("| %s |", s.Build)
			for _, n := range syscallsShown {
				p(" %d |", s.Calls[n])
			}
			p(" %d |\n", s.Total)
		}
		p("\n")
	}
	if len(c.Detect) > 0 {
		p("### Detection latency\n\n")
		p("%d leaking children at once, each leaking one CLOSE_WAIT socket 0.5–1.5 s after it starts (a random phase of the scans), "+
			"restarted (under `run`) or started again (under `watch`) after each TERM; threshold 1, interval %s, persist %d. "+
			"Latency is leak → SIGTERM received, timed by the child; escalation is the unhealthy event of the history (ms) → SIGTERM. "+
			"A leak is within the bound when its latency lies in [%s, %s + its escalation]: %s for the deciding scan itself (timer, dump, judgement).\n\n",
			cc.Leakers, detectInterval, detectPersist, dur(time.Duration(detectPersist-1)*detectInterval), dur(time.Duration(detectPersist)*detectInterval+detectAllowance), dur(detectAllowance))
		p("| mode | build | within | min | median | p99 | max | escalation median / max |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, d := range c.Detect {
			l := d.Latency
			p("| %s | %s | %d of %d | %s | %s | %s | %s | %s / %s |\n", d.Mode, d.Build, d.Within, l.N, dur(l.Min), dur(l.Median), dur(l.P99), dur(l.Max),
				dur(d.Escalation.Median), dur(d.Escalation.Max))
		}
		p("\n")
	}
	if len(c.Mem) > 0 {
		p("### Memory of `resreap run`\n\n")
		p("Idle children (`sleep infinity`), health checks every second; medians of one `/proc/PID/smaps_rollup` a second for %s "+
			"(file-backed is Rss − Anonymous), then the Go runtime's own figures from `/metrics`.\n\n", cc.MemFor)
		p("| build | children | RSS | anonymous | file-backed | goroutines | heap in use | stacks | heap live (alloc) / next GC |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		kb := func(b int) string { return fmt.Sprintf("%d kB", b>>10) }
		for _, m := range c.Mem {
			p("| %s | %d | %d kB | %d kB | %d kB | %d | %s | %s | %s / %s |\n", m.Build, m.Children, m.RSS, m.Anon, m.File, m.Goroutines,
				kb(m.HeapInuse), kb(m.StackInuse), kb(m.HeapAlloc), kb(m.NextGC))
		}
		p("\n")
	}
	if m := c.Many; m != nil {
		p("### Starting and stopping %d children\n\n", m.Children)
		p("`resreap run` with %d idle children (health checks on): start is from its exec to the last child forked (counted in "+
			"`/proc/PID/task/*/children`), stop from SIGTERM to its exit, every child stopped and reaped and the history written. "+
			"The floor, `bench/cmd/forkfloor`, forks and execs as many `sleep infinity`, then kills and reaps them: nothing else. %d rounds.\n\n", m.Children, m.Rounds)
		p("| | start median | start min – max | stop median | stop min – max |\n|---|---:|---:|---:|---:|\n")
		for _, name := range append([]string{"floor"}, c.Builds...) {
			st, sp := summarize(m.Start[name]), summarize(m.Stop[name])
			p("| %s | %s | %s – %s | %s | %s – %s |\n", name, dur(st.Median), dur(st.Min), dur(st.Max), dur(sp.Median), dur(sp.Min), dur(sp.Max))
		}
		p("\n")
	}
}
