//go:build linux

package fleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/resreap/resreap/internal/fleet/link"
)

// Status is a fleet group as etcd has it: every member registered, who
// holds the slots, and the order with each member's progress.
type Status struct {
	Group    string                   `json:"group"`
	Members  []link.Member            `json:"members"`
	Holders  []link.Holder            `json:"slots"`
	Order    *link.Order              `json:"order,omitempty"`
	Progress map[string]OrderProgress `json:"progress,omitempty"` // by host

	orderRev int64
}

// OrderProgress is one host's members in an order, by state.
type OrderProgress struct {
	Done       []string `json:"done"`
	Restarting []string `json:"in_progress"`
	Waiting    []string `json:"waiting"`
	Failed     []string `json:"failed"`
}

// Status reads group.
func (f *Fleet) Status(ctx context.Context, group string) (Status, error) {
	st := Status{Group: group}
	members, err := f.Members(ctx, group)
	if err != nil {
		return st, err
	}
	st.Members = members
	if st.Holders, _, err = f.slots(ctx, group); err != nil {
		return st, err
	}
	o, rev, marks, err := f.Order(ctx, group)
	if err != nil || o == nil {
		return st, err
	}
	st.Order, st.orderRev = o, rev
	st.Progress = map[string]OrderProgress{}
	seen := map[string]bool{}
	add := func(host, child, state string) {
		p := st.Progress[host]
		switch state {
		case MarkDone:
			p.Done = append(p.Done, child)
		case MarkRestarting:
			p.Restarting = append(p.Restarting, child)
		case MarkFailed:
			p.Failed = append(p.Failed, child)
		default:
			p.Waiting = append(p.Waiting, child)
		}
		st.Progress[host] = p
	}
	for _, m := range members {
		id := m.Host + "/" + m.Child
		seen[id] = true
		add(m.Host, m.Child, marks[id].State)
	}
	// Members marked that are no longer registered (their resreap is
	// down) still count: done is done, and a restart begun is not over.
	for _, id := range slices.Sorted(maps.Keys(marks)) {
		if !seen[id] {
			seen[id] = true
			host, child, _ := strings.Cut(id, "/")
			add(host, child, marks[id].State)
		}
	}
	// So do the members the order was written for that are neither
	// registered nor marked: they wait for their resreap to come back.
	for _, id := range o.Members {
		if !seen[id] {
			seen[id] = true
			host, child, _ := strings.Cut(id, "/")
			add(host, child, "")
		}
	}
	return st, nil
}

// Finished reports whether the order is over: no member waiting or being
// restarted, of those registered now and those the order was written
// for.
func (st Status) Finished() bool {
	for _, p := range st.Progress {
		if len(p.Waiting)+len(p.Restarting) > 0 {
			return false
		}
	}
	return true
}

// Summary says the order's progress on one line: "5 done, 2 in progress,
// 2 waiting, 0 failed".
func (st Status) Summary() string {
	var d, r, w, f int
	for _, p := range st.Progress {
		d, r, w, f = d+len(p.Done), r+len(p.Restarting), w+len(p.Waiting), f+len(p.Failed)
	}
	return fmt.Sprintf("%d done, %d in progress, %d waiting, %d failed", d, r, w, f)
}
