//go:build linux

package history

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeRecords appends n records (pids 1000+first …) and closes the writer.
func writeRecords(t *testing.T, path string, first, n int) {
	t.Helper()
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Append(rec("a", EventStart, first+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func pids(recs []Record) []int {
	var out []int
	for _, r := range recs {
		out = append(out, r.PID-1000)
	}
	return out
}

func TestReadTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	writeRecords(t, path, 0, 10)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the tenth line.
	if err := os.Truncate(path, st.Size()-17); err != nil {
		t.Fatal(err)
	}
	recs, warns := readAll(t, path)
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(pids(recs), want) {
		t.Errorf("have records %v, want %v", pids(recs), want)
	}
	if len(warns) != 1 || warns[0].File != path || warns[0].Line != 10 {
		t.Fatalf("have warnings %v, want one for %s:10", warns, path)
	}
	if s := warns[0].String(); !strings.Contains(s, path+":10:") || !strings.Contains(s, "torn") {
		t.Errorf("warning %q should name file, line and tearing", s)
	}

	// Cut exactly before the final newline: complete JSON, but Append never
	// returned for it.
	if err := os.Truncate(path, st.Size()-1); err != nil {
		t.Fatal(err)
	}
	if recs, warns := readAll(t, path); len(recs) != 9 || len(warns) != 1 {
		t.Errorf("without the last newline: %d records, %v; want 9 and one warning", len(recs), warns)
	}
}

func TestReadGarbageInTheMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	writeRecords(t, path, 0, 5)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-11-25T10:00:0` + "\n\n" + "\x00\x00garbage\n")
	f.Close()
	writeRecords(t, path, 5, 5)

	recs, warns := readAll(t, path)
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(pids(recs), want) {
		t.Errorf("have records %v, want %v", pids(recs), want)
	}
	var lines []int
	for _, w := range warns {
		lines = append(lines, w.Line)
	}
	if !slices.Equal(lines, []int{6, 8}) { // the blank line 7 is no warning
		t.Errorf("have warnings %v, want lines 6 and 8", warns)
	}
}

func TestReadAcrossRotatedFilesWithTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	writeRecords(t, path+".2", 0, 3)
	writeRecords(t, path+".1", 3, 3)
	writeRecords(t, path, 6, 3)
	// .1 lost its last record in a crash, then was rotated as it was.
	st, _ := os.Stat(path + ".1")
	if err := os.Truncate(path+".1", st.Size()-5); err != nil {
		t.Fatal(err)
	}
	recs, warns := readAll(t, path)
	if want := []int{0, 1, 2, 3, 4, 6, 7, 8}; !slices.Equal(pids(recs), want) {
		t.Errorf("have records %v, want %v", pids(recs), want)
	}
	if len(warns) != 1 || warns[0].File != path+".1" || warns[0].Line != 3 {
		t.Errorf("have warnings %v, want one for %s.1:3", warns, path)
	}
}

func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Read(filepath.Join(dir, "history.jsonl"), Filter{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want ErrNotExist", err)
	}
	// Only a rotated file (the live one was just moved away): still a history.
	writeRecords(t, filepath.Join(dir, "history.jsonl.1"), 0, 2)
	recs, _, err := Read(filepath.Join(dir, "history.jsonl"), Filter{})
	if err != nil || len(recs) != 2 {
		t.Errorf("only .1: %d records, %v", len(recs), err)
	}
	if _, _, err := Read(dir, Filter{}); err == nil {
		t.Error("Read of a directory succeeded")
	}
}

func TestReadFilter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w := openT(t, path, Options{})
	events := []Event{EventStart, EventUnhealthy, EventStop, EventRestart}
	for i := range 20 {
		child := "a"
		if i%2 == 1 {
			child = "b"
		}
		if err := w.Append(rec(child, events[i%4], i)); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		f    Filter
		want []int
	}{
		{"all", Filter{}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}},
		{"child", Filter{Child: "b"}, []int{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}},
		{"since inclusive", Filter{Since: t0.Add(17 * time.Second)}, []int{17, 18, 19}},
		{"events", Filter{Events: []Event{EventRestart, EventStop}}, []int{2, 3, 6, 7, 10, 11, 14, 15, 18, 19}},
		{"last", Filter{Last: 3}, []int{17, 18, 19}},
		{"last of many", Filter{Last: 1}, []int{19}},
		{"last more than there are", Filter{Last: 100, Child: "a", Events: []Event{EventStart}}, []int{0, 4, 8, 12, 16}},
		{"combined", Filter{Child: "b", Events: []Event{EventRestart}, Since: t0.Add(5 * time.Second), Last: 2}, []int{15, 19}},
		{"nothing", Filter{Child: "c"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, _, err := Read(path, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if have := pids(recs); !slices.Equal(have, tc.want) {
				t.Errorf("have %v, want %v", have, tc.want)
			}
		})
	}
}

// A relative path is taken from the working directory.
func TestReadRelativePath(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, filepath.Join(dir, "history.jsonl"), 0, 3)
	t.Chdir(dir)
	recs, _, err := Read("history.jsonl", Filter{})
	if err != nil || len(recs) != 3 {
		t.Errorf("have %d records, %v", len(recs), err)
	}
}
