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
)

// WriteSummary writes one row per child named in recs (sorted by name): the
// number of restarts, split by reason with the most frequent first, and the
// time (local, to the second) and reason of the last one. recs must be
// oldest first, as Read returns them. The restarts are counted by Counter,
// as resreap status counts them.
func WriteSummary(w io.Writer, recs []Record) error {
	c := NewCounter()
	for i := range recs {
		c.Add(&recs[i])
	}
	tallies := c.Tallies()
	names := slices.Sorted(maps.Keys(tallies))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHILD\tRESTARTS\tBY REASON\tLAST RESTART\tLAST REASON")
	for _, name := range names {
		t := tallies[name]
		last, lastReason := "-", "-"
		if t.Restarts > 0 {
			last = t.LastTime.Local().Format(tableTime)
			lastReason = cell(string(t.LastReason))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", cell(name), t.Restarts,
			cell(reasonCounts(t.ByReason)), last, lastReason)
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
