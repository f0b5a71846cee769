//go:build linux

package control

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resreap/resreap/internal/textsafe"
	"github.com/resreap/resreap/supervisor"
)

// sourceText names a health source for the status line.
func sourceText(s string) string {
	switch s {
	case "bpf":
		return "BPF events"
	case "netlink", "proc":
		return s + " dump"
	}
	return textsafe.Escape(s)
}

// WriteStatusTable writes a line about resreap, then st as an aligned
// table, one child per line, with "-" for what does not apply: a stopped
// child has no pid, uptime or figures. STATE says how long the child has
// been in it, and "not ready" for a running child whose ready probe
// fails; UPTIME is the age of its process. Below the table, each child
// whose last start failed has its last output. Every text from the
// answer is escaped (textsafe): the table is for a terminal, the answer
// came over a socket, and a cgroup path or a name holds what it holds.
func WriteStatusTable(w io.Writer, sup Supervisor, st []ChildStatus) error {
	line := fmt.Sprintf("resreap pid %d, up %s: %d of %s up; owned by %s", sup.PID,
		uptimeText(time.Since(sup.Started)), sup.Up, plural(sup.Children, "child", "children"), textsafe.Escape(sup.Ownership))
	if sup.Starting {
		line = fmt.Sprintf("resreap pid %d, up %s: starting, children not added yet; owned by %s", sup.PID,
			uptimeText(time.Since(sup.Started)), textsafe.Escape(sup.Ownership))
	}
	if sup.OwnershipDetail != "" {
		line += " (" + textsafe.Escape(sup.OwnershipDetail) + ")"
	}
	if sup.HealthSource != "" {
		line += "; CLOSE_WAIT from " + sourceText(sup.HealthSource)
	}
	if sup.DryRun {
		line += "; DRY RUN"
	}
	if sup.OutputLost > 0 || sup.HistoryDropped > 0 {
		line += fmt.Sprintf("; %d output lines and %d history events dropped", sup.OutputLost, sup.HistoryDropped)
	}
	if sup.HistoryPending > 0 {
		line += fmt.Sprintf("; %d history events pending", sup.HistoryPending)
	}
	if sup.HistoryFailed > 0 {
		line += fmt.Sprintf("; %d history writes failed (see the log)", sup.HistoryFailed)
	}
	fmt.Fprintln(w, line)
	if sup.CgroupMissing != "" {
		fmt.Fprintln(w, "cgroup controllers missing: "+textsafe.Escape(sup.CgroupMissing))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CHILD\tSTATE\tPID\tUPTIME\tRESTARTS\tLAST REASON\tCLOSE_WAIT\tFDS\tCPU")
	for _, c := range st {
		state := dash(c.State)
		if c.WaitingFor != "" {
			state = "waiting for " + c.WaitingFor
		} else if c.State != "" {
			state += " " + stateForText(time.Duration(c.StateFor))
		}
		if c.State == "running" && !c.Ready {
			state += ", not ready" // its ready probe fails: not up
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n",
			textsafe.Escape(c.Name), textsafe.Escape(state), pidText(c.PID), uptimeText(time.Duration(c.Uptime)),
			c.Restarts, textsafe.Escape(dash(c.LastReason)), closeWaitText(c.CloseWait), fdsText(c.FDs), cpuText(c.Cgroup))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeFailedStarts(w, st)
}

// writeFailedStarts writes, below the table, the last output of each
// child whose last start failed, and where all of it is: what the child
// said, which the exit code does not ("[emerg] unexpected "}" in
// nginx.conf:4"). The lines are the child's: escaped.
func writeFailedStarts(w io.Writer, st []ChildStatus) error {
	for _, c := range st {
		t := c.OutputTail
		if t == nil || len(t.Lines) == 0 {
			continue
		}
		head := "\n" + textsafe.Escape(c.Name) + ": last start failed"
		if c.LastExit != "" {
			head += " (" + textsafe.Escape(c.LastExit) + ")"
		}
		if _, err := fmt.Fprintf(w, "%s; its last output (all of it in %s):\n", head, textsafe.Escape(t.FullOutput)); err != nil {
			return err
		}
		for _, l := range t.Lines {
			if _, err := fmt.Fprintln(w, "  "+textsafe.Escape(l)); err != nil {
				return err
			}
		}
	}
	return nil
}

// stateForText is how long a child has been in its state: "0s" below a
// second, as a state always has a duration.
func stateForText(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	return uptimeText(d)
}

// closeWaitText is "25 (3 persistent)", or "3 persistent" when the count
// of all is not known; "-" without a scan of a live process.
func closeWaitText(cw *CloseWait) string {
	switch {
	case cw == nil:
		return "-"
	case cw.Now < 0:
		return fmt.Sprintf("%d persistent", cw.Persistent)
	}
	return fmt.Sprintf("%d (%d persistent)", cw.Now, cw.Persistent)
}

func fdsText(f *FDs) string {
	switch {
	case f == nil:
		return "-"
	case f.Limit == 0:
		return strconv.Itoa(f.Open) + "/unlimited"
	}
	return fmt.Sprintf("%d/%d", f.Open, f.Limit)
}

func cpuText(cg *Cgroup) string {
	if cg == nil {
		return "-"
	}
	return cg.CPU.Text()
}

// String renders the report on one line:
//
//	fe-server pid 1234 stopped by TERM after 1.2s (sent TERM, KILL; killed)
func (r StopReport) String() string {
	if r.PID == 0 {
		return textsafe.Escape(r.Child) + " was not running"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s pid %d ", textsafe.Escape(r.Child), r.PID)
	switch {
	case r.Signal != "":
		fmt.Fprintf(&b, "stopped by %s", textsafe.Escape(r.Signal))
	case r.ExitCode != nil:
		fmt.Fprintf(&b, "exited with code %d", *r.ExitCode)
	default:
		b.WriteString("stopped")
	}
	fmt.Fprintf(&b, " after %s", r.Duration.Text())
	if len(r.SignalsSent) > 0 || r.Killed {
		sent := make([]string, len(r.SignalsSent))
		for i, s := range r.SignalsSent {
			sent[i] = textsafe.Escape(s.Signal)
		}
		b.WriteString(" (")
		if len(sent) > 0 {
			b.WriteString("sent " + strings.Join(sent, ", "))
		}
		if r.Killed {
			if len(sent) > 0 {
				b.WriteString("; ")
			}
			b.WriteString("killed")
		}
		b.WriteString(")")
	}
	return b.String()
}

// String renders the report on one line, naming what changed:
//
//	reloaded: started api; stopped old; restarted fe-server (command); 2 unchanged
func (r ReloadReport) String() string {
	return "reloaded: " + supervisor.ReloadReport(r).String()
}

// plural is "1 child", "2 children", "0 children": n with the word that
// fits it.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pidText(pid int) string {
	if pid == 0 {
		return "-"
	}
	return strconv.Itoa(pid)
}

// uptimeText gives the two largest units, as ps and kubectl do: "3d4h",
// "2h5m", "4m12s", "12s".
func uptimeText(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	d = d.Truncate(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, d := d/time.Minute, d%time.Minute
	s := d / time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
