//go:build linux

package harness

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where the numbers come from.
type Machine struct {
	CPU    string // model name
	CPUs   int    // logical CPUs
	Memory string
	Kernel string // uname -srvm
	Go     string
	Commit string
	Dirty  bool
	Tools  []string // versions of the external tools
}

// DescribeMachine reads /proc/cpuinfo, /proc/meminfo, uname, git and the
// tools' version flags. Whatever cannot be read is left empty.
func DescribeMachine() Machine {
	m := Machine{Go: runtime.Version(), CPUs: runtime.NumCPU()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if st, err := procMeminfo(); err == nil {
		m.Memory = fmt.Sprintf("%.1f GiB", float64(st)/(1<<20))
	}
	m.Kernel = firstLine("uname", "-srvm")
	m.Commit = firstLine("git", "rev-parse", "--short=12", "HEAD")
	m.Dirty = firstLine("git", "status", "--porcelain", "--untracked-files=no") != ""
	for _, argv := range [][]string{{"ss", "-V"}, {"netstat", "--version"}} {
		if v := firstLine(argv[0], argv[1:]...); v != "" {
			m.Tools = append(m.Tools, fmt.Sprintf("%s: %s", argv[0], v))
		}
	}
	return m
}

func procMeminfo() (int, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int
			_, err := fmt.Sscan(rest, &kb)
			return kb, err
		}
	}
	return 0, fmt.Errorf("no MemTotal")
}

func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

// ms formats milliseconds with a precision that suits the magnitude.
func ms(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func dur(d time.Duration) string {
	return ms(float64(d) / float64(time.Millisecond))
}

func sizeLabel(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// WriteMarkdown writes the report as results.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	m := r.Machine
	cfg := r.Config

	p("# resreap performance report\n\n")
	commit := "`" + m.Commit + "`"
	if m.Dirty {
		commit += " with uncommitted changes"
	}
	p("Written by `make bench` (`bench/cmd/report`) on %s, commit %s, in %s.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), commit, r.Elapsed.Round(time.Second))

	p("## Machine\n\n| | |\n|---|---|\n")
	p("| CPU | %s, %d logical CPUs |\n", m.CPU, m.CPUs)
	p("| Memory | %s |\n", m.Memory)
	p("| Kernel | %s |\n", m.Kernel)
	p("| Go | %s |\n", m.Go)
	for _, t := range m.Tools {
		name, ver, _ := strings.Cut(t, ": ")
		p("| %s | %s |\n", name, ver)
	}
	p("\n")

	r.writeScans(p)
	r.writeSupervisor(p)

	p("## Method\n\n")
	p("- The socket tables are held by `cmd/sockload`: established loopback connections "+
		"(both ends held, 2 sockets each) spread over worker processes on 127.77.0.x "+
		"and [::1], plus %d client sockets in CLOSE_WAIT (the listener accepts and closes, "+
		"the client never closes). The socket count in the tables is the host's TCP table "+
		"(`/proc/net/tcp` + `tcp6`) when measured, other users of the machine included.\n", cfg.CloseWait)
	p("- CPU time is user + system time of the whole process as the kernel accounts it " +
		"(`wait4` rusage), so start-up, output and anything the tool waits for are counted; " +
		"output goes to `/dev/null`. Wall time is not the measure: `resreap watch --once` " +
		"sleeps `-i` between its two snapshots.\n")
	p("- One warm-up round, then %d rounds; every round runs each tool once, in an order "+
		"rotated by one each round. Ratios are taken within a round, then the median of the "+
		"ratios is reported, so that drift of the machine hits every tool alike.\n", cfg.Rounds)
	p("- `resreap watch --once` takes two snapshots and then maps the persistent CLOSE_WAIT " +
		"sockets to their owners; its figure is the whole command, both snapshots included. " +
		"`resreap version` measures the start-up of the same binary alone, for reference.\n")
	p("- Supervisor: `resreap run` on a configuration of its own in a temporary directory, " +
		"RSS from `/proc/PID/status` (VmRSS, one sample per second), CPU from `/proc/PID/stat` " +
		"(utime + stime) over the whole span. Latencies are timed by the child " +
		"(`bench/cmd/benchchild`), which writes nanosecond timestamps; the history file " +
		"(millisecond timestamps) gives the cross-check.\n")
	p("- Reproduce with `make bench` (installs `ss` and `netstat` with apt-get when missing).\n")
	if len(r.Failures) > 0 {
		p("\n## Not measured\n\n")
		for _, f := range r.Failures {
			p("- %s\n", f)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeScans(p func(string, ...any)) {
	if len(r.Scans) == 0 {
		return
	}
	floorName := ""
	if f := r.Scans[0].Floor(); f != nil {
		floorName = f.Tool.Name
	}
	p("## One scan: CPU time\n\n")
	p("Median CPU time (user + system) of one run of each command, with ×N the median of the "+
		"per-round ratios to `%s`, the kernel's filtered dump without owner PIDs (the floor). "+
		"%d CLOSE_WAIT sockets at every size.\n\n", floorName, r.Config.CloseWait)
	p("| command |")
	for _, s := range r.Scans {
		p(" %s sockets |", sizeLabel(s.Target))
	}
	p("\n|---|")
	for range r.Scans {
		p("---:|")
	}
	p("\n")
	for ti, t := range r.Scans[0].Tools {
		name := "`" + t.Tool.Name + "`"
		if t.Tool.Floor {
			name += " (floor)"
		}
		if t.Tool.Reference {
			name += " (start-up alone, reference)"
		}
		p("| %s |", name)
		for _, s := range r.Scans {
			tr := s.Tools[ti]
			switch {
			case tr.Err != "":
				p(" n/a |")
			case tr.Tool.Floor:
				p(" %s |", ms(tr.MedianCPU()))
			default:
				p(" %s (×%.1f) |", ms(tr.MedianCPU()), tr.MedianRatio())
			}
		}
		p("\n")
	}
	p("\n![CPU time of one scan vs sockets on the host](%s)\n\n", r.Config.Chart)

	var notes []string
	for ti, t := range r.Scans[0].Tools {
		for _, s := range r.Scans {
			if s.Tools[ti].Err != "" {
				notes = append(notes, fmt.Sprintf("`%s` could not be measured: %s", t.Tool.Name, s.Tools[ti].Err))
				break
			}
		}
		if !strings.HasPrefix(t.Tool.Name, "resreap watch") {
			continue
		}
		var over, vsOwners []string
		for _, s := range r.Scans {
			tr := s.Tools[ti]
			if tr.Err != "" {
				continue
			}
			if tr.MedianRatio() > 1.5 {
				over = append(over, fmt.Sprintf("×%.1f at %s", tr.MedianRatio(), sizeLabel(s.Target)))
			}
			if o := s.tool("ss -tnp state close-wait"); o != nil && o.Err == "" {
				vsOwners = append(vsOwners, fmt.Sprintf("×%.2f at %s", ratioTo(tr, *o), sizeLabel(s.Target)))
			}
		}
		if len(over) > 0 {
			notes = append(notes, fmt.Sprintf("`%s` costs more than the 1.5× of the floor that issue 5 allows: %s.",
				t.Tool.Name, strings.Join(over, ", ")))
		}
		if len(vsOwners) > 0 {
			notes = append(notes, fmt.Sprintf("Against `ss -tnp state close-wait`, which also maps sockets to owners: %s.",
				strings.Join(vsOwners, ", ")))
		}
		if q := r.Quiet; q != nil && ti < len(q.Tools) && q.Tools[ti].Err == "" {
			notes = append(notes, fmt.Sprintf("With no CLOSE_WAIT held by the load (%s sockets): %s, ×%.1f the floor.",
				sizeLabel(q.Target), ms(q.Tools[ti].MedianCPU()), q.Tools[ti].MedianRatio()))
		}
	}
	if len(notes) > 0 {
		p("Observations:\n\n")
		for _, n := range notes {
			p("- %s\n", n)
		}
		p("\n")
	}

	p("### Per size\n\n")
	for _, s := range r.Scans {
		p("**%s sockets** asked; the table held %d TCP sockets, %d in CLOSE_WAIT; %d rounds.\n\n",
			sizeLabel(s.Target), s.Sockets, s.CloseWait, s.Rounds)
		writeDetail(p, s)
	}
	if q := r.Quiet; q != nil {
		p("### %s sockets, no CLOSE_WAIT held by the load\n\n", sizeLabel(q.Target))
		p("The same kind of load without CLOSE_WAIT sockets (the table held %d TCP sockets, "+
			"%d in CLOSE_WAIT from other users of the machine); %d rounds. With no persistent "+
			"CLOSE_WAIT to attribute to a process, `resreap watch` has no fd table to read.\n\n",
			q.Sockets, q.CloseWait, q.Rounds)
		writeDetail(p, *q)
	}
}

func writeDetail(p func(string, ...any), s ScanResult) {
	p("| command | CPU median | CPU min – max | wall median | × floor (median of rounds) |\n")
	p("|---|---:|---:|---:|---:|\n")
	for _, tr := range s.Tools {
		if tr.Err != "" {
			p("| `%s` | n/a | | | |\n", tr.Tool.Name)
			continue
		}
		lo, hi := minMax(millis(tr.CPU))
		p("| `%s` | %s | %s – %s | %s | %.2f |\n", tr.Tool.Name, ms(tr.MedianCPU()),
			ms(lo), ms(hi), ms(tr.MedianWall()), tr.MedianRatio())
	}
	p("\n")
}

func (r *Report) writeSupervisor(p func(string, ...any)) {
	if r.Idle == nil && r.Restart == nil && r.Detect == nil {
		return
	}
	p("## Supervisor\n\n")
	p("Measured while the %s-socket load was up.\n\n", sizeLabel(r.Config.SupervisorAt))
	if i := r.Idle; i != nil {
		p("### At rest: %d idle children (`sleep infinity`), health check every 1 s\n\n", i.Children)
		p("| | |\n|---|---|\n")
		p("| RSS, median of %d samples | %.1f MiB |\n", int(i.Duration.Seconds()), float64(i.RSSMedian)/1024)
		p("| RSS, max / VmHWM | %.1f MiB / %.1f MiB |\n", float64(i.RSSMax)/1024, float64(i.HWM)/1024)
		p("| CPU | %.2f %% of one core (%.2f s in %s) |\n", i.CPUPercent, i.CPUSeconds, i.Duration.Round(time.Second))
		p("| threads | %d |\n", i.Threads)
		if i.Reader != "" {
			p("| socket reader | %s |\n", i.Reader)
		}
		p("| TCP sockets on the host | %d |\n", i.Sockets)
		p("| history events besides the %d starts | %d |\n\n", i.Children, i.Events)
	}
	lat := func(name string, l Latencies) {
		if l.N == 0 {
			p("| %s | – | – | – | – | 0 |\n", name)
			return
		}
		p("| %s | %s | %s | %s | %s | %d |\n", name, dur(l.Median), dur(l.P99), dur(l.Min), dur(l.Max), l.N)
	}
	if rs := r.Restart; rs != nil {
		p("### Restart latency: child exit → next child running, backoff 0\n\n")
		p("| | median | p99 | min | max | n |\n|---|---:|---:|---:|---:|---:|\n")
		lat("exit → next start, timed by the children", rs.Child)
		lat("exit → start events in the history (ms timestamps)", rs.History)
		lat("reference: fork + exec + Go start-up of the child, from the harness", rs.Exec)
		p("\nThe child's timestamps are its last instruction before `exit(1)` and its first after " +
			"Go's start-up, so the first line includes one process start-up (third line).\n\n")
	}
	if d := r.Detect; d != nil {
		p("### Detection latency: CLOSE_WAIT leak → restart, interval %s, persist %d, threshold 1\n\n", d.Interval, d.Persist)
		p("| | median | p99 | min | max | n |\n|---|---:|---:|---:|---:|---:|\n")
		lat("leak → SIGTERM received by the child", d.LeakToTerm)
		lat("leak → stop event in the history (child reaped)", d.LeakToStop)
		lat("leak → next child running", d.LeakToStart)
		p("\nThe child leaks one socket at a random moment 0.5–1.5 s after it starts, so the leak "+
			"falls anywhere between two scans. With persist %d the socket must be seen by %d "+
			"consecutive scans: expect between %s and %s, plus the stop.\n\n",
			d.Persist, d.Persist, time.Duration(d.Persist-1)*d.Interval, time.Duration(d.Persist)*d.Interval)
	}
}
