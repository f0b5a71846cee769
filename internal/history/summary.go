//go:build linux

package history

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// childSummary is the restart tally of one child.
type childSummary struct {
	child    string
	restarts int
	byReason map[Reason]int
	last     *Record // the newest restart
	// lastReason is why the newest restart happened.
	lastReason Reason
}

// WriteSummary writes one row per child named in recs (sorted by name): the
// number of restarts, split by reason with the most frequent first, and the
// time (local, to the second) and reason of the last one. recs must be
// oldest first, as Read returns them.
//
// A restart is a start attempt of a child after its first in the same run
// of resreap: a start record with restarts > 0, whatever caused it, which
// is what resreap status counts. Its reason is that of the record that
// ended the process before it: the exit ("exited"), the stop (close_wait,
// manual, reload...) or the failed start ("start_failed").
func WriteSummary(w io.Writer, recs []Record) error {
	byChild := map[string]*childSummary{}
	cause := map[string]Reason{} // why each child's last process ended
	for i := range recs {
		r := &recs[i]
		if r.Child == "" {
			continue // resreap's own events (reload)
		}
		s := byChild[r.Child]
		if s == nil {
			s = &childSummary{child: r.Child, byReason: map[Reason]int{}}
			byChild[r.Child] = s
		}
		switch {
		case r.Event == EventStart && r.Restarts > 0:
			s.restarts++
			s.byReason[cause[r.Child]]++
			s.last, s.lastReason = r, cause[r.Child]
		case r.Event == EventExit, r.Event == EventStop, r.Event == EventOrphaned:
			cause[r.Child] = r.Reason
		}
		if r.Event == EventStart && r.PID == 0 {
			cause[r.Child] = ReasonStartFailed
		}
	}
	sums := make([]*childSummary, 0, len(byChild))
	for _, s := range byChild {
		sums = append(sums, s)
	}
	slices.SortFunc(sums, func(a, b *childSummary) int { return cmp.Compare(a.child, b.child) })

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHILD\tRESTARTS\tBY REASON\tLAST RESTART\tLAST REASON")
	for _, s := range sums {
		last, lastReason := "-", "-"
		if s.last != nil {
			last = s.last.Time.Local().Format(tableTime)
			lastReason = cell(string(s.lastReason))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", cell(s.child), s.restarts,
			cell(reasonCounts(s.byReason)), last, lastReason)
	}
	return tw.Flush()
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
		name := string(r)
		if name == "" {
			name = "unknown"
		}
		parts[i] = name + "×" + strconv.Itoa(m[r])
	}
	return strings.Join(parts, ", ")
}
