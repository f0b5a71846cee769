//go:build linux

package history

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppend measures one Append of a typical health restart record:
// encode, one write(2) and one fsync on the test's temporary directory.
func BenchmarkAppend(b *testing.B) {
	w, err := Open(filepath.Join(b.TempDir(), "history.jsonl"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r := fullRecord()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Append(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountRestarts measures what a resreap start spends counting the
// restarts of a 64MB history (history_max_size's default) of typical
// records: a start, an exit and a health restart's records in turn.
func BenchmarkCountRestarts(b *testing.B) {
	path := filepath.Join(b.TempDir(), "history.jsonl")
	w, err := Open(path, Options{MaxSize: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	full := fullRecord()
	start, exit := rec("fe-server", EventStart, 1), rec("fe-server", EventExit, 2)
	start.PID, start.Restarts, exit.Reason = 42, 3, ReasonExited
	batch := []Record{start, exit, full}
	var size int64
	for size < 64<<20 {
		for _, errs := range [][]error{w.AppendAll(batch)} {
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		for _, r := range batch {
			line, _ := encodeLine(r)
			size += int64(len(line))
		}
	}
	w.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := CountRestarts(path, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
