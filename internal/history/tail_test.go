//go:build linux

package history

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// followT starts following path and closes the Follower at the end.
func followT(t *testing.T, path string, f Filter) ([]Record, *Follower) {
	t.Helper()
	recs, warns, fl, err := Follow(path, f)
	if err != nil || len(warns) > 0 {
		t.Fatalf("Follow: %v, warnings %v", err, warns)
	}
	t.Cleanup(func() { fl.Close() })
	return recs, fl
}

// next calls Next and fails on an error or a warning.
func next(t *testing.T, fl *Follower) []Record {
	t.Helper()
	recs, warns, err := fl.Next()
	if err != nil || len(warns) > 0 {
		t.Fatalf("Next: %v, warnings %v", err, warns)
	}
	return recs
}

func TestFollowAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	writeRecords(t, path, 0, 5)
	recs, fl := followT(t, path, Filter{Last: 2})
	if want := []int{3, 4}; !slices.Equal(pids(recs), want) {
		t.Fatalf("Follow read %v, want %v", pids(recs), want)
	}
	if recs := next(t, fl); len(recs) != 0 {
		t.Errorf("nothing written, Next read %v", pids(recs))
	}
	writeRecords(t, path, 5, 3)
	if want := []int{5, 6, 7}; !slices.Equal(pids(next(t, fl)), want) {
		t.Errorf("after three appends: want %v", want)
	}
}

// A line its writer has not finished is left for the next call, then
// read whole; it is no warning.
func TestFollowWaitsForTheNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	writeRecords(t, path, 0, 1)
	_, fl := followT(t, path, Filter{})
	line, err := encodeLine(rec("a", EventStart, 1))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(line[:10])
	if recs := next(t, fl); len(recs) != 0 {
		t.Errorf("half a line read as %v", pids(recs))
	}
	f.Write(line[10:])
	if want := []int{1}; !slices.Equal(pids(next(t, fl)), want) {
		t.Errorf("the finished line: want %v", want)
	}
}

// Records written on both sides of rotations are all read, in order,
// once each.
func TestFollowAcrossRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	line, _ := encodeLine(rec("a", EventStart, 0))
	w := openT(t, path, Options{MaxSize: int64(3 * len(line)), Keep: 5})
	appendN := func(first, n int) {
		for i := range n {
			if err := w.Append(rec("a", EventStart, first+i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(0, 2)
	_, fl := followT(t, path, Filter{})
	var have []int
	for round := range 4 {
		appendN(2+round*4, 4) // each round rotates at least once
		have = append(have, pids(next(t, fl))...)
	}
	var want []int
	for i := 2; i < 18; i++ {
		want = append(want, i)
	}
	if !slices.Equal(have, want) {
		t.Errorf("have %v\nwant %v", have, want)
	}
}

// The filter applies to what follows too.
func TestFollowFilters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	writeRecords(t, path, 0, 1)
	_, fl := followT(t, path, Filter{Events: []Event{EventStop}})
	w := openT(t, path, Options{})
	for i, ev := range []Event{EventStart, EventStop, EventExit} {
		if err := w.Append(rec("a", ev, 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if want := []int{11}; !slices.Equal(pids(next(t, fl)), want) {
		t.Errorf("want only the stop, %v", want)
	}
}

func TestReadUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	writeRecords(t, path, 0, 10)
	recs, _, err := Read(path, Filter{Since: rec("a", EventStart, 3).Time, Until: rec("a", EventStart, 6).Time})
	if want := []int{3, 4, 5, 6}; err != nil || !slices.Equal(pids(recs), want) {
		t.Errorf("have %v, %v; want %v (both bounds included)", pids(recs), err, want)
	}
}
