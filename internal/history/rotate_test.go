//go:build linux

package history

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/resreap/resreap/internal/safefs"
)

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	line, _ := encodeLine(rec("a", EventRestart, 100))
	maxSize := int64(4*len(line) + 10) // four records per file
	const keep, total = 3, 40
	w := openT(t, path, Options{MaxSize: maxSize, Keep: keep})
	for i := range total {
		if err := w.Append(rec("a", EventRestart, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	if nums, _ := rotatedNumbers(path); !slices.Equal(nums, []int{1, 2, 3}) {
		t.Errorf("rotated files %v, want [1 2 3]", nums)
	}
	for _, name := range []string{path, path + ".1", path + ".2", path + ".3"} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxSize {
			t.Errorf("%s has %d bytes, over MaxSize %d", name, st.Size(), maxSize)
		}
	}

	recs, warns := readAll(t, path)
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	// All lines have the same length: three full rotated files and a full
	// live one survive, in order, ending with the newest record.
	if len(recs) != 4*4 {
		t.Errorf("have %d records, want %d", len(recs), 4*4)
	}
	for i, r := range recs {
		if want := 1100 + total - len(recs) + i; r.PID != want {
			t.Fatalf("record %d has pid %d, want %d (order across files)", i, r.PID, want)
		}
	}
}

func TestRotationKeepZeroAndStaleFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	// Left over from a configuration that kept more files.
	stale, _ := encodeLine(rec("old", EventStart, 0))
	for _, n := range []string{".4", ".7"} {
		if err := os.WriteFile(path+n, stale, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	line, _ := encodeLine(rec("a", EventStart, 1))
	w := openT(t, path, Options{MaxSize: int64(2 * len(line)), Keep: 0})
	for i := range 5 {
		if err := w.Append(rec("a", EventStart, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if nums, _ := rotatedNumbers(path); len(nums) != 0 {
		t.Errorf("rotated files %v remain with Keep 0", nums)
	}
	recs, _ := readAll(t, path)
	if len(recs) != 1 || recs[0].PID != 1005 {
		t.Errorf("have %+v, want only the last record", recs)
	}
}

func TestRotationOversizedRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w := openT(t, path, Options{MaxSize: 10, Keep: 5})
	for i := range 3 {
		if err := w.Append(rec("a", EventStart, i)); err != nil {
			t.Fatal(err)
		}
	}
	if nums, _ := rotatedNumbers(path); !slices.Equal(nums, []int{1, 2}) {
		t.Errorf("rotated files %v, want one record in each of [1 2] and the live file", nums)
	}
	if recs, _ := readAll(t, path); len(recs) != 3 {
		t.Errorf("have %d records, want 3", len(recs))
	}
}

func TestRotatedNumbers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	for _, n := range []string{"history.jsonl", "history.jsonl.1", "history.jsonl.10",
		"history.jsonl.2", "history.jsonl.01", "history.jsonl.0", "history.jsonl.x",
		"history.jsonl.1.gz", "other.jsonl.3"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	nums, err := rotatedNumbers(path)
	if err != nil || !slices.Equal(nums, []int{1, 2, 10}) {
		t.Errorf("have %v, %v; want [1 2 10]", nums, err)
	}
	if nums, err := rotatedNumbers(filepath.Join(dir, "missing", "h")); err != nil || nums != nil {
		t.Errorf("missing dir: %v, %v", nums, err)
	}
}

// Records handed together to AppendAll must still split at MaxSize, and
// keep their order across the files.
func TestAppendAllWithRotation(t *testing.T) {
	const batches, each = 20, 50
	path := filepath.Join(t.TempDir(), "history.jsonl")
	line, _ := encodeLine(rec("child-00", EventRestart, 10))
	maxSize := int64(10 * len(line))
	w := openT(t, path, Options{MaxSize: maxSize, Keep: 200})
	for g := range batches {
		batch := make([]Record, each)
		for i := range batch {
			batch[i] = rec(fmt.Sprintf("child-%02d", g), EventRestart, 10+i)
		}
		for i, err := range w.AppendAll(batch) {
			if err != nil {
				t.Fatalf("batch %d, record %d: %v", g, i, err)
			}
		}
	}
	nums, _ := rotatedNumbers(path)
	for _, n := range append(nums, 0) {
		name := path
		if n > 0 {
			name = rotatedName(path, n)
		}
		if st, err := os.Stat(name); err != nil || st.Size() > maxSize {
			t.Errorf("%s: %v, size over %d", name, err, maxSize)
		}
	}
	recs, warns := readAll(t, path)
	if len(recs) != batches*each || len(warns) != 0 {
		t.Fatalf("have %d records, %v; want %d, no warnings", len(recs), warns, batches*each)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("child-%02d", i/each); r.Child != want || r.PID != 1010+i%each {
			t.Fatalf("record %d is %s/%d, want %s/%d (order across files)", i, r.Child, r.PID, want, 1010+i%each)
		}
	}
}

// A rotation costs one step per file present, whatever Keep says: a Keep
// of ten million once meant ten million renames per rotation.
func TestRotationPlan(t *testing.T) {
	type op = rotateOp
	const rm = -1
	for _, tc := range []struct {
		name string
		nums []int
		keep int
		want []rotateOp
	}{
		{"first rotation", nil, 5, []op{{0, 1}}},
		{"shift", []int{1, 2}, 5, []op{{2, 3}, {1, 2}, {0, 1}}},
		{"oldest falls off", []int{1, 2, 3}, 3, []op{{3, rm}, {2, 3}, {1, 2}, {0, 1}}},
		{"gap keeps order", []int{1, 7}, 8, []op{{7, 8}, {1, 2}, {0, 1}}},
		{"gap at the edge", []int{1, 7}, 7, []op{{7, rm}, {1, 2}, {0, 1}}},
		{"left by a larger keep", []int{1, 4, 9}, 2, []op{{9, rm}, {4, rm}, {1, 2}, {0, 1}}},
		{"keep 0", []int{1, 3}, 0, []op{{3, rm}, {1, rm}, {0, rm}}},
		{"huge keep", []int{1, 2, 3}, 10_000_000, []op{{3, 4}, {2, 3}, {1, 2}, {0, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if have := rotationPlan(tc.nums, tc.keep); !slices.Equal(have, tc.want) {
				t.Errorf("rotationPlan(%v, %d) = %v, want %v", tc.nums, tc.keep, have, tc.want)
			}
		})
	}
}

// With a Keep far beyond the files present, a rotation renames and
// removes only the files there are (counted as they are done), and the
// result is the same as with a small Keep.
func TestRotationLargeKeep(t *testing.T) {
	const keep, total = 10_000_000, 20
	path := filepath.Join(t.TempDir(), "history.jsonl")
	line, _ := encodeLine(rec("a", EventRestart, 100))
	w := openT(t, path, Options{MaxSize: int64(len(line)), Keep: keep}) // one record per file
	ops := &countingOps{limit: 100}
	w.ops = ops
	for i := range total {
		if err := w.Append(rec("a", EventRestart, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	// Rotation k (k = 1 … total-1) moves k files: the live one and the
	// k-1 rotated before.
	if want := (total - 1) * total / 2; ops.renames != want || ops.removes != 0 {
		t.Errorf("%d renames, %d removes; want %d renames, none removed", ops.renames, ops.removes, want)
	}
	nums, _ := rotatedNumbers(path)
	if len(nums) != total-1 || nums[0] != 1 || nums[len(nums)-1] != total-1 {
		t.Errorf("rotated files %v, want 1..%d", nums, total-1)
	}
	recs, warns := readAll(t, path)
	if len(recs) != total || len(warns) != 0 {
		t.Fatalf("have %d records, %v; want %d, no warnings", len(recs), warns, total)
	}
	for i, r := range recs {
		if r.PID != 1100+i {
			t.Fatalf("record %d has pid %d (order across files)", i, r.PID)
		}
	}
}

// countingOps counts the renames and removals of rotations, and fails
// every call after limit of a single rotation: a rotation that walks Keep
// instead of the files present stops at once instead of taking minutes.
type countingOps struct {
	limit            int
	renames, removes int
	calls            int // in the rotation under way
}

func (c *countingOps) Rename(d *safefs.Dir, from, to string) error {
	if err := c.count(from); err != nil {
		return err
	}
	c.renames++
	return d.Rename(from, to)
}

func (c *countingOps) Remove(d *safefs.Dir, name string) error {
	if err := c.count(name); err != nil {
		return err
	}
	c.removes++
	return d.Remove(name)
}

// count refuses calls beyond the limit within one rotation, which ends
// by moving the live file.
func (c *countingOps) count(name string) error {
	c.calls++
	if c.calls > c.limit {
		return fmt.Errorf("more than %d renames and removals in one rotation (at %s)", c.limit, name)
	}
	if strings.HasSuffix(name, ".jsonl") {
		c.calls = 0
	}
	return nil
}

// rotatedNumbers is rotatedIn for the history at path; a missing
// directory has none.
func rotatedNumbers(path string) ([]int, error) {
	d, err := safefs.OpenDir(filepath.Dir(path), policy())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return rotatedIn(d, filepath.Base(path))
}
