//go:build linux

package history

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is the restart tally of one child (resreap history --summary).
// Its JSON field names are for scripts; fields are only ever added.
type Summary struct {
	Child    string `json:"child"`
	Restarts int    `json:"restarts"`
	// ByReason counts the restarts by the reason the process before
	// ended ("unknown" for a history that did not say).
	ByReason map[Reason]int `json:"by_reason"`
	// LastRestart is when the newest restart happened, LastReason why;
	// both absent without a restart.
	LastRestart time.Time `json:"last_restart,omitzero"`
	LastReason  Reason    `json:"last_reason,omitempty"`
}

// Summarize tallies the restarts of each child named in recs, sorted by
// name. recs must be oldest first, as Read returns them.
//
// A restart is a start attempt of a child after its first in the same run
// of resreap: a start record with restarts > 0, whatever caused it, which
// is what resreap status counts. Its reason is that of the record that
// ended the process before it: the exit ("exited"), the stop (close_wait,
// manual, reload...) or the failed start ("start_failed").
func Summarize(recs []Record) []Summary {
	c := NewCounter()
	for i := range recs {
		c.Add(&recs[i])
	}
	tallies := c.Tallies()
	sums := make([]Summary, 0, len(tallies))
	for _, name := range slices.Sorted(maps.Keys(tallies)) {
		t := tallies[name]
		s := Summary{Child: name, Restarts: t.Restarts, ByReason: t.ByReason, LastRestart: t.LastTime, LastReason: t.LastReason}
		// A history that did not say why the process before ended.
		if n, ok := s.ByReason[""]; ok {
			delete(s.ByReason, "")
			s.ByReason["unknown"] += n
		}
		if s.Restarts > 0 && s.LastReason == "" {
			s.LastReason = "unknown"
		}
		sums = append(sums, s)
	}
	return sums
}

// WriteSummary writes Summarize's tally as a table, one row per child:
// the number of restarts, split by reason with the most frequent first,
// and the time (local, to the second) and reason of the last one.
func WriteSummary(w io.Writer, recs []Record) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHILD\tRESTARTS\tBY REASON\tLAST RESTART\tLAST REASON")
	for _, s := range Summarize(recs) {
		last, lastReason := "-", "-"
		if !s.LastRestart.IsZero() {
			last = s.LastRestart.Local().Format(tableTime)
			lastReason = cell(string(s.LastReason))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", cell(s.Child), s.Restarts,
			cell(reasonCounts(s.ByReason)), last, lastReason)
	}
	return tw.Flush()
}

// WriteSummaryJSON writes Summarize's tally as JSON Lines, one object per
// child, times as in the history file.
func WriteSummaryJSON(w io.Writer, recs []Record) error {
	for _, s := range Summarize(recs) {
		b, err := marshalNoEscape(struct {
			Child       string         `json:"child"`
			Restarts    int            `json:"restarts"`
			ByReason    map[Reason]int `json:"by_reason"`
			LastRestart string         `json:"last_restart,omitempty"`
			LastReason  Reason         `json:"last_reason,omitempty"`
		}{s.Child, s.Restarts, s.ByReason, timeOrEmpty(s.LastRestart), s.LastReason})
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// timeOrEmpty is formatTime, or "" for the zero time.
func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

// reasonCounts renders counts as "close_wait×3, exited×1", most frequent
// first, ties by name so the output is stable.
func reasonCounts(m map[Reason]int) string {
	reasons := make([]Reason, 0, len(m))
	for r := range m {
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b Reason) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = string(r) + "×" + strconv.Itoa(m[r])
	}
	return strings.Join(parts, ", ")
}
