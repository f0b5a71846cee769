//go:build linux

package history

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// rotate moves the live file aside and reopens a fresh one. Whatever
// happened to the renames, it reopens the path, so a failed rotation leaves
// the writer appending to the old file rather than to nothing.
func (w *Writer) rotate() error {
	w.f.Close()
	w.f = nil
	err := rotateFiles(w.ops, w.path, w.opts.Keep)
	if oerr := w.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

// rotateFiles shifts path.N → path.N+1 … path → path.1 for the files that
// exist, dropping what falls beyond keep, and syncs the directory so the
// renames survive a crash together with the records written after them.
// Its cost follows the files present, never keep: a Keep of ten million
// once meant ten million renames of missing names per rotation, under the
// writer's lock.
func rotateFiles(ops fileOps, path string, keep int) error {
	nums, err := rotatedNumbers(path)
	if err != nil {
		return err
	}
	for _, op := range rotationPlan(nums, keep) {
		from := rotatedName(path, op.from)
		if op.to < 0 {
			err = ops.Remove(from)
		} else {
			err = ops.Rename(from, rotatedName(path, op.to))
		}
		// A rotated file may vanish meanwhile (an operator, a second
		// resreap on the same file); only the live file must be there.
		if err != nil && (op.from == 0 || !errors.Is(err, fs.ErrNotExist)) {
			return err
		}
	}
	return syncDir(filepath.Dir(path))
}

// fileOps are the directory operations of a rotation. The Writer uses
// osFileOps; a test counts the calls.
type fileOps interface {
	Rename(from, to string) error
	Remove(name string) error
}

type osFileOps struct{}

func (osFileOps) Rename(from, to string) error { return os.Rename(from, to) }
func (osFileOps) Remove(name string) error     { return os.Remove(name) }

// rotateOp is one step of a rotation: rename file number from to number to,
// or remove it when to is negative. Number 0 is the live file.
type rotateOp struct{ from, to int }

// rotationPlan lists the steps that rotate the files numbered nums
// (ascending, as rotatedNumbers returns them) keeping keep rotated files:
// one step per file, from the oldest down, so that every rename's target
// has already moved on. A file whose next number would pass keep is
// removed, so are files left beyond keep by a larger Keep before; with keep
// 0 the live file goes too. Numbers need not be contiguous: path.1 and
// path.7 become path.2 and path.8, which keeps their order.
func rotationPlan(nums []int, keep int) []rotateOp {
	ops := make([]rotateOp, 0, len(nums)+1)
	for i := len(nums) - 1; i >= 0; i-- {
		if n := nums[i]; n >= keep {
			ops = append(ops, rotateOp{n, -1})
		} else {
			ops = append(ops, rotateOp{n, n + 1})
		}
	}
	if keep == 0 {
		return append(ops, rotateOp{0, -1})
	}
	return append(ops, rotateOp{0, 1})
}

// rotatedName is the name of the n-th rotated file of path; the 0th is
// path itself.
func rotatedName(path string, n int) string {
	if n == 0 {
		return path
	}
	return path + "." + strconv.Itoa(n)
}

// rotatedNumbers returns, ascending, the N of every path.N present next to
// path. A missing directory has none.
func rotatedNumbers(path string) ([]int, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	prefix := filepath.Base(path) + "."
	var nums []int
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(suffix)
		if err != nil || n < 1 || strconv.Itoa(n) != suffix {
			continue
		}
		nums = append(nums, n)
	}
	sort.Ints(nums)
	return nums, nil
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
