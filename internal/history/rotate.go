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
	err := rotateFiles(w.path, w.opts.Keep)
	if oerr := w.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

// rotateFiles shifts path.N-1 → path.N … path → path.1, dropping what falls
// beyond keep, and syncs the directory so the renames survive a crash
// together with the records written after them.
func rotateFiles(path string, keep int) error {
	nums, err := rotatedNumbers(path)
	if err != nil {
		return err
	}
	// Files beyond keep are left from a larger Keep before; with keep 0
	// every rotated file, and below the live file itself, goes.
	for _, n := range nums {
		if n <= keep {
			continue
		}
		if err := os.Remove(rotatedName(path, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if keep == 0 {
		if err := os.Remove(path); err != nil {
			return err
		}
		return syncDir(filepath.Dir(path))
	}
	for n := keep - 1; n >= 1; n-- {
		err := os.Rename(rotatedName(path, n), rotatedName(path, n+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(path, rotatedName(path, 1)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// rotatedName is the name of the n-th rotated file of path.
func rotatedName(path string, n int) string { return path + "." + strconv.Itoa(n) }

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
