//go:build linux

package history

import (
	"maps"
	"time"
)

// Tally is the restart count of one child, as resreap history --summary
// and resreap status count it.
type Tally struct {
	Restarts int
	ByReason map[Reason]int // Restarts by the reason the process before ended
	// LastTime and LastReason are when and why the newest restart
	// happened; zero without one.
	LastTime   time.Time
	LastReason Reason
}

// Counter counts the restarts of each child in records fed to it oldest
// first. A restart is a start attempt of a child after its first in the
// same run of resreap: a start record with restarts > 0, whatever caused
// it. Its reason is that of the record that ended the process before it:
// the exit ("exited", or "start_failed" for an exit within
// start_seconds), the stop (close_wait, manual, reload...), the start
// that never ran ("start_failed"). It keeps one Tally and one reason per
// child, never the records.
type Counter struct {
	tallies map[string]*Tally
	cause   map[string]Reason // why each child's last process ended
}

// NewCounter returns a Counter with nothing counted.
func NewCounter() *Counter {
	return &Counter{tallies: map[string]*Tally{}, cause: map[string]Reason{}}
}

// Add counts r, which must be newer than the records added before it.
// resreap's own records (a reload) name no child and count for none.
func (c *Counter) Add(r *Record) {
	if r.Child == "" {
		return
	}
	t := c.tallies[r.Child]
	if t == nil {
		t = &Tally{ByReason: map[Reason]int{}}
		c.tallies[r.Child] = t
	}
	switch {
	case r.Event == EventStart && r.Restarts > 0:
		cause := c.cause[r.Child]
		t.Restarts++
		t.ByReason[cause]++
		t.LastTime, t.LastReason = r.Time, cause
	case r.Event == EventExit, r.Event == EventStop, r.Event == EventOrphaned:
		c.cause[r.Child] = r.Reason
	}
	if r.Event == EventStart && r.PID == 0 {
		c.cause[r.Child] = ReasonStartFailed
	}
}

// Tallies returns a copy of the count of each child named by a record.
func (c *Counter) Tallies() map[string]Tally {
	out := make(map[string]Tally, len(c.tallies))
	for name, t := range c.tallies {
		cp := *t
		cp.ByReason = maps.Clone(t.ByReason)
		out[name] = cp
	}
	return out
}

// CountRestarts counts the restarts in the history at path (its rotated
// files too) of the records older than before, as Counter counts them:
// what a resreap starting at before continues from, so that its status
// agrees with history --summary. It reads every file once and keeps no
// record: memory is a Tally per child. The warnings are the damaged
// lines skipped; the error a history that cannot be read at all (none
// yet: fs.ErrNotExist).
func CountRestarts(path string, before time.Time) (map[string]Tally, []Warning, error) {
	c := NewCounter()
	warns, err := each(path, func(r Record) {
		if r.Time.Before(before) {
			c.Add(&r)
		}
	})
	if err != nil {
		return nil, warns, err
	}
	return c.Tallies(), warns, nil
}
