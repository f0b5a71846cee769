//go:build linux

package control

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteStatusTable writes st as an aligned table, one child per line, with
// "-" for what does not apply (the pid of a stopped child).
func WriteStatusTable(w io.Writer, st []ChildStatus) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CHILD\tSTATE\tPID\tUPTIME\tRESTARTS\tLAST REASON\tCLOSE_WAIT\tFDS")
	for _, c := range st {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n",
			c.Name, dash(c.State), pidText(c.PID), uptimeText(time.Duration(c.Uptime)),
			c.Restarts, dash(c.LastReason), c.CloseWait, fdsText(c.FDs, c.FDLimit))
	}
	return tw.Flush()
}

// String renders the report on one line:
//
//	fe-server pid 1234 stopped by TERM after 1.2s (sent TERM, KILL; killed)
func (r StopReport) String() string {
	if r.PID == 0 {
		return r.Child + " was not running"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s pid %d ", r.Child, r.PID)
	switch {
	case r.Signal != "":
		fmt.Fprintf(&b, "stopped by %s", r.Signal)
	case r.ExitCode != nil:
		fmt.Fprintf(&b, "exited with code %d", *r.ExitCode)
	default:
		b.WriteString("stopped")
	}
	fmt.Fprintf(&b, " after %s", durationText(time.Duration(r.Duration)))
	if len(r.SignalsSent) > 0 || r.Killed {
		sent := make([]string, len(r.SignalsSent))
		for i, s := range r.SignalsSent {
			sent[i] = s.Signal
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
//	reloaded: started api; stopped old; restarted fe-server; 2 unchanged
func (r ReloadReport) String() string {
	var parts []string
	for _, p := range []struct {
		verb  string
		names []string
	}{{"started", r.Started}, {"stopped", r.Stopped}, {"restarted", r.Restarted}} {
		if len(p.names) > 0 {
			parts = append(parts, p.verb+" "+strings.Join(p.names, ", "))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no change")
	}
	if n := len(r.Unchanged); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", n))
	}
	return "reloaded: " + strings.Join(parts, "; ")
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

func fdsText(n int, limit uint64) string {
	switch {
	case n == 0 && limit == 0:
		return "-"
	case limit == 0:
		return strconv.Itoa(n) + "/unlimited"
	}
	return fmt.Sprintf("%d/%d", n, limit)
}

// durationText keeps a stop duration readable: tenths of a second from one
// second up, milliseconds below.
func durationText(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
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
