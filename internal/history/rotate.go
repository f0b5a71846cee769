//go:build linux

package history

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/resreap/resreap/internal/safefs"
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
// Every rename and removal is relative to the directory, opened through
// safefs: a link is renamed or removed itself, never followed.
// Its cost follows the files present, never keep: a Keep of ten million
// once meant ten million renames of missing names per rotation, under the
// writer's lock.
func rotateFiles(ops fileOps, path string, keep int) error {
	d, err := safefs.OpenDir(filepath.Dir(path), policy())
	if err != nil {
		return err
	}
	defer d.Close()
	base := filepath.Base(path)
	nums, err := rotatedIn(d, base)
	if err != nil {
		return err
	}
	for _, op := range rotationPlan(nums, keep) {
		from := rotatedName(base, op.from)
		if op.to < 0 {
			err = ops.Remove(d, from)
		} else {
			err = ops.Rename(d, from, rotatedName(base, op.to))
		}
		// A rotated file may vanish meanwhile (an operator, a second
		// resreap on the same file); only the live file must be there.
		if err != nil && (op.from == 0 || !errors.Is(err, fs.ErrNotExist)) {
			return err
		}
	}
	return d.Sync()
}

// fileOps are the directory operations of a rotation, on names in the
// history's directory. The Writer uses osFileOps; a test counts the calls.
type fileOps interface {
	Rename(d *safefs.Dir, from, to string) error
	Remove(d *safefs.Dir, name string) error
}

// osFileOps renames and removes through the directory's descriptor
// (renameat, unlinkat).
type osFileOps struct{}

func (osFileOps) Rename(d *safefs.Dir, from, to string) error { return d.Rename(from, to) }
func (osFileOps) Remove(d *safefs.Dir, name string) error     { return d.Remove(name) }

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

// rotatedName is the name of the n-th rotated file of name (a path, or a
// name in the history's directory); the 0th is name itself.
func rotatedName(name string, n int) string {
	if n == 0 {
		return name
	}
	return name + "." + strconv.Itoa(n)
}

// rotatedIn returns, ascending, the N of every base.N in d, the
// directory of the history file named base.
func rotatedIn(d *safefs.Dir, base string) ([]int, error) {
	entries, err := d.ReadDir()
	if err != nil {
		return nil, err
	}
	prefix := base + "."
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
