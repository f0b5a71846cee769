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
	// Load is /proc/loadavg's 1, 5 and 15 minute figures when the run
	// started and when it ended: other work on the machine skews CPU times.
	LoadStart, LoadEnd string
}

// DescribeMachine reads /proc/cpuinfo, /proc/meminfo, uname, git and the
// tools' version flags. Whatever cannot be read is left empty.
func DescribeMachine() Machine {
	m := Machine{Go: runtime.Version(), CPUs: runtime.NumCPU(), LoadStart: loadAvg()}
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

// loadAvg returns the 1, 5 and 15 minute load averages, or "".
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
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
	if m.LoadStart != "" {
		p("| Load average (1, 5, 15 min) at start → end | %s → %s |\n", m.LoadStart, m.LoadEnd)
	}
	for _, t := range m.Tools {
		name, ver, _ := strings.Cut(t, ": ")
		p("| %s | %s |\n", name, ver)
	}
	p("\n")

	r.writeCost(p)
	r.writeScans(p)
	r.writeWalks(p)
	r.writeTick(p)
	r.writeSupervisor(p)
	r.writeSources(p)

	if cfg.SourcesOnly {
		r.writeFailures(p)
		_, err := io.WriteString(w, b.String())
		return err
	}
	p("## Method\n\n")
	p("- The socket tables are held by `bench/cmd/sockload`: established loopback connections "+
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
	p("- Readlinks: the first scan of `resreap watch --once` reads no fd table (nothing has " +
		"persisted yet); the second maps the persistent sockets to their owners, one readlink " +
		"per fd read, until every one is found. The count is resreap's own (`health.Stats`, " +
		"logged with each owner walk at debug level), from one more run of the same command " +
		"with `--json -D`, apart from the measured runs.\n")
	p("- Supervisor: `resreap run` on a configuration of its own in a temporary directory, " +
		"RSS from `/proc/PID/status` (VmRSS, one sample per second), CPU from `/proc/PID/stat` " +
		"(utime + stime) over the whole span. Latencies are timed by the child " +
		"(`bench/cmd/benchchild`), which writes nanosecond timestamps; the history file " +
		"(millisecond timestamps) gives the cross-check.\n")
	p("- Reproduce with `make bench` (installs `ss` and `netstat` with apt-get when missing).\n")
	r.writeFailures(p)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeFailures(p func(string, ...any)) {
	if len(r.Failures) > 0 {
		p("\n## Not measured\n\n")
		for _, f := range r.Failures {
			p("- %s\n", f)
		}
	}
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
	// The readlinks of the first tool that counts them: both readers walk
	// the same fd tables.
	for ti, t := range r.Scans[0].Tools {
		if len(t.Tool.Count) == 0 {
			continue
		}
		p("| readlinks of the owner walk (fd tables read), `%s` |", t.Tool.Name)
		for _, s := range r.Scans {
			p(" %s |", walkCell(s.Tools[ti]))
		}
		p("\n")
		break
	}
	p("\n![CPU time of one scan vs sockets on the host](%s)\n\n", r.Config.Chart)

	notes := []string{"The load's CLOSE_WAIT sockets are held by its first worker, the process with the " +
		"most fds: the worst case of the owner walk, which reads the tables with the fewest fds " +
		"first. The owner-walk section below compares it with a small leaker."}
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
	p("| command | CPU median | CPU min – max | wall median | × floor (median of rounds) | readlinks (fd tables) |\n")
	p("|---|---:|---:|---:|---:|---:|\n")
	for _, tr := range s.Tools {
		if tr.Err != "" {
			p("| `%s` | n/a | | | | |\n", tr.Tool.Name)
			continue
		}
		lo, hi := minMax(millis(tr.CPU))
		p("| `%s` | %s | %s – %s | %s | %.2f | %s |\n", tr.Tool.Name, ms(tr.MedianCPU()),
			ms(lo), ms(hi), ms(tr.MedianWall()), tr.MedianRatio(), walkCell(tr))
	}
	p("\n")
}

// walkCell is the owner-walk cost of a tool's counting run, for a table.
func walkCell(tr ToolResult) string {
	switch {
	case tr.Walk != nil:
		return fmt.Sprintf("%d (%d)", tr.Walk.Readlinks, tr.Walk.FDTables)
	case tr.WalkErr != "":
		return "n/a"
	}
	return ""
}
