//go:build linux

package history

import (
	"path/filepath"
	"testing"
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
