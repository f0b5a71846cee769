//go:build linux

package history

import (
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resreap/resreap/internal/textsafe"
)

// tableTime is the layout of times in tables: local time, to the second,
// which is what an operator compares with the host's logs.
const tableTime = "2006-01-02 15:04:05"

// WriteTable writes recs as aligned columns, one row per record in the
// given order: time (local, to the second), child, event, reason, pid, how
// the process ended, uptime, stop duration, backoff, and the evidence summary
// (or, without evidence, the record's message). Absent values print as "-".
func WriteTable(w io.Writer, recs []Record) error {
	return NewTableWriter(w).Write(recs)
}

// tableHeader is the header row of WriteTable.
var tableHeader = []string{"TIME", "CHILD", "EVENT", "REASON", "PID", "ENDED", "UPTIME", "STOP", "BACKOFF", "DETAIL"}

// TableWriter writes WriteTable's table a batch of rows at a time, for a
// history that is followed (resreap history --follow): the header comes
// with the first batch, and each column is as wide as the widest cell
// written in it so far, two spaces apart. A later, wider cell widens its
// column from that row on; rows already written stay as they are. The
// last column (DETAIL) is never padded.
type TableWriter struct {
	w      io.Writer
	widths []int // in runes, as a terminal shows them
	header bool  // written
}

// NewTableWriter returns a TableWriter that writes to w.
func NewTableWriter(w io.Writer) *TableWriter {
	return &TableWriter{w: w, widths: make([]int, len(tableHeader))}
}

// Write writes recs as rows (the header first, on the first call).
func (t *TableWriter) Write(recs []Record) error {
	rows := make([][]string, 0, len(recs)+1)
	if !t.header {
		rows = append(rows, tableHeader)
	}
	for _, r := range recs {
		rows = append(rows, row(r))
	}
	for _, cells := range rows {
		for i, c := range cells {
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, cells := range rows {
		for i, c := range cells {
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return err
	}
	t.header = true
	return nil
}

// row is the cells of r in WriteTable's table.
func row(r Record) []string {
	pid := "-"
	if r.PID != 0 {
		pid = strconv.Itoa(r.PID)
	}
	return []string{r.Time.Local().Format(tableTime),
		cell(who(r)), cell(string(r.Event)), cell(string(r.Reason)), pid,
		cell(Ended(r)), shortDuration(r.Uptime), shortDuration(r.StopDuration),
		shortDuration(r.Backoff), cell(detail(r))}
}

// who is the CHILD column: the child, or for a group's record
// "group NAME".
func who(r Record) string {
	if r.Child == "" && r.Group != "" {
		return "group " + r.Group
	}
	return r.Child
}

// WriteJSON writes recs as JSON Lines, exactly as they appear in the file.
func WriteJSON(w io.Writer, recs []Record) error {
	for _, r := range recs {
		line, err := encodeLine(r)
		if err != nil {
			return err
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// Ended says how the process of rec ended, on one line: "exit 3",
// "signal KILL", or for a stop the escalation with its outcome:
// "TERM (exit 0)", "QUIT→TERM (signal TERM)", "TERM→KILL (killed)".
// It is "" when the record says nothing about an end.
func Ended(r Record) string {
	var outcome string
	switch {
	case r.Killed:
		outcome = "killed"
	case r.ExitCode != nil:
		outcome = "exit " + strconv.Itoa(*r.ExitCode)
	case r.Signal != "":
		outcome = "signal " + r.Signal
	}
	if len(r.SignalsSent) == 0 {
		if r.Killed {
			return "KILL (killed)"
		}
		return outcome
	}
	names := make([]string, 0, len(r.SignalsSent)+1)
	for _, s := range r.SignalsSent {
		names = append(names, s.Signal)
	}
	if r.Killed && names[len(names)-1] != "KILL" {
		names = append(names, "KILL")
	}
	chain := strings.Join(names, "→")
	if outcome == "" {
		return chain
	}
	return chain + " (" + outcome + ")"
}

// detail is the last column: the message and the evidence in one line,
// "message: evidence", or whichever there is; for a deferred restart
// "evidence; message", as its message names the group's members that are
// down and its evidence is the deferred member's own; then, for a failed
// start, the last line the process wrote: "last output: ...".
func detail(r Record) string {
	s := r.Evidence.Summary()
	switch {
	case s == "":
		s = r.Message
	case r.Message == "":
	case r.Event == EventDeferred:
		s += "; " + r.Message
	default:
		s = r.Message + ": " + s
	}
	if t := r.OutputTail; t != nil && len(t.Lines) > 0 {
		last := "last output: " + t.Lines[len(t.Lines)-1]
		if s == "" {
			return last
		}
		return s + "; " + last
	}
	return s
}

// cell makes s safe for one tabwriter cell and a terminal: every control
// character escaped (textsafe), so a tab or a newline breaks neither the
// alignment nor the row and an ESC from a child's name, command or
// evidence reaches no terminal; "-" for nothing.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return textsafe.Escape(s)
}

// shortDuration rounds d for a table: milliseconds under a minute ("1.503s"),
// seconds under an hour ("3m20s"), minutes above ("26h5m"); "-" for zero.
func shortDuration(d Duration) string {
	v := time.Duration(d)
	switch {
	case v == 0:
		return "-"
	case v < time.Minute && v > -time.Minute:
		return v.Round(time.Millisecond).String()
	case v < time.Hour && v > -time.Hour:
		return v.Round(time.Second).String()
	}
	return strings.TrimSuffix(v.Round(time.Minute).String(), "0s")
}
