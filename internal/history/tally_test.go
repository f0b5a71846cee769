//go:build linux

package history

import (
	"errors"
	"io/fs"
	"maps"
	"path/filepath"
	"testing"
	"time"
)

// The Counter counts a restart at each start after the first of a run, by
// why the process before ended.
func TestCounter(t *testing.T) {
	c := NewCounter()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, r := range []Record{
		{Child: "w", Event: EventStart, PID: 10},
		{Child: "w", Event: EventExit, Reason: ReasonStartFailed, PID: 10},
		{Child: "w", Event: EventStart, PID: 11, Restarts: 1},
		{Child: "w", Event: EventStop, Reason: ReasonCloseWait, PID: 11},
		{Child: "w", Event: EventStart, PID: 0, Restarts: 2, Message: "exec: no such file"},
		{Child: "w", Event: EventStart, PID: 12, Restarts: 3},
		{Event: EventReload, Reason: ReasonRejected},
		{Child: "w", Event: EventStart, PID: 13}, // resreap restarted: a first start
		{Child: "idle", Event: EventStart, PID: 14},
	} {
		r.Time = at.Add(time.Duration(i) * time.Second)
		c.Add(&r)
	}
	got := c.Tallies()
	want := Tally{Restarts: 3, ByReason: map[Reason]int{ReasonStartFailed: 2, ReasonCloseWait: 1},
		LastTime: at.Add(5 * time.Second), LastReason: ReasonStartFailed}
	if w := got["w"]; w.Restarts != want.Restarts || !maps.Equal(w.ByReason, want.ByReason) || !w.LastTime.Equal(want.LastTime) || w.LastReason != want.LastReason {
		t.Errorf("w: %+v, want %+v", w, want)
	}
	if idle, ok := got["idle"]; !ok || idle.Restarts != 0 {
		t.Errorf("idle: %+v (present %v), want 0 restarts", idle, ok)
	}
	if len(got) != 2 {
		t.Errorf("%d tallies, want one per child named", len(got))
	}
}

// CountRestarts reads the rotated files too, oldest first, and counts only
// what came before the time given: a resreap starting then counts on from
// it, and the records it writes itself are its own to count.
func TestCountRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if _, _, err := CountRestarts(path, time.Now()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no history: %v, want fs.ErrNotExist", err)
	}
	w, err := Open(path, Options{MaxSize: 400, Keep: 10}) // a rotation every few records
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	var recs []Record
	for i := range 20 {
		recs = append(recs,
			Record{Time: t0.Add(time.Duration(2*i) * time.Second), Child: "w", Event: EventStart, PID: 100 + i, Restarts: i},
			Record{Time: t0.Add(time.Duration(2*i+1) * time.Second), Child: "w", Event: EventExit, Reason: ReasonExited, PID: 100 + i})
	}
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if matches, _ := filepath.Glob(path + ".*"); len(matches) < 2 {
		t.Fatalf("%d rotated files, want several", len(matches))
	}
	got, warns, err := CountRestarts(path, t0.Add(29*time.Second))
	if err != nil || len(warns) != 0 {
		t.Fatalf("CountRestarts: %v %v", err, warns)
	}
	// Starts 1..14 came before the cut (start i at 2i seconds).
	if w := got["w"]; w.Restarts != 14 || w.ByReason[ReasonExited] != 14 {
		t.Errorf("w: %+v, want 14 restarts, all exited", w)
	}
}
