//go:build linux

package history

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/safefs"
	"github.com/resreap/resreap/internal/testchild"
)

// readAll reads the history at path, failing the test on an error.
func readAll(t *testing.T, path string) ([]Record, []Warning) {
	t.Helper()
	recs, warns, err := Read(path, Filter{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return recs, warns
}

func openT(t *testing.T, path string, opts Options) *Writer {
	t.Helper()
	w, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestAppendCreatesDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "resreap")
	path := filepath.Join(dir, "history.jsonl")
	w := openT(t, path, Options{})
	for i := range 3 {
		if err := w.Append(rec("a", EventStart, i)); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	if err := w.Append(Record{Child: "b", Event: EventStop}); err != nil {
		t.Fatal(err)
	}
	recs, warns := readAll(t, path)
	if len(recs) != 4 || len(warns) != 0 {
		t.Fatalf("have %d records, %v warnings; want 4, none", len(recs), warns)
	}
	if last := recs[3].Time; last.Before(before.Truncate(time.Millisecond)) || last.After(time.Now()) {
		t.Errorf("zero Time became %v, want now", last)
	}
	// The umask may take bits away, never add them.
	for _, c := range []struct {
		name string
		max  fs.FileMode
	}{{dir, 0o750}, {path, 0o640}} {
		st, err := os.Stat(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&^c.max != 0 {
			t.Errorf("%s has mode %v, want at most %v", c.name, perm, c.max)
		}
	}
}

// A crash mid-write leaves a line without a newline; the next Writer must
// not glue its first record to it.
func TestOpenAfterTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	line, _ := encodeLine(rec("a", EventStart, 1))
	if err := os.WriteFile(path, append(line, line[:20]...), 0o640); err != nil {
		t.Fatal(err)
	}
	w := openT(t, path, Options{})
	if err := w.Append(rec("a", EventExit, 2)); err != nil {
		t.Fatal(err)
	}
	recs, warns := readAll(t, path)
	if len(recs) != 2 || recs[1].Event != EventExit {
		t.Errorf("have %+v, want the start and the exit", recs)
	}
	if len(warns) != 1 || warns[0].Line != 2 {
		t.Errorf("have warnings %v, want one for line 2", warns)
	}
}

func TestDropPartialWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w := openT(t, path, Options{})
	if err := w.Append(rec("a", EventStart, 1)); err != nil {
		t.Fatal(err)
	}
	// What a short write leaves behind, undone the way write does it.
	n, err := w.f.Write([]byte(`{"time":"2026-`))
	if err != nil {
		t.Fatal(err)
	}
	w.dropPartial(n)
	if err := w.Append(rec("a", EventExit, 2)); err != nil {
		t.Fatal(err)
	}
	if recs, warns := readAll(t, path); len(recs) != 2 || len(warns) != 0 {
		t.Errorf("have %d records, warnings %v; want 2, none", len(recs), warns)
	}
}

// Several Writers on one file, each owned by a goroutine of its own, as
// several processes appending to the same history would be: every line
// arrives whole (one write(2) per batch on O_APPEND), and each Writer's
// records keep their order.
func TestWritersShareAFile(t *testing.T) {
	const writers, each = 8, 300
	path := filepath.Join(t.TempDir(), "history.jsonl")
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		w := openT(t, path, Options{})
		wg.Go(func() {
			for i := 0; i < each; {
				// Batches of 1 to 4 records, of unequal lengths.
				var batch []Record
				for k := 0; k <= i%4 && i < each; k++ {
					r := rec(fmt.Sprintf("child-%02d", g), EventRestart, i)
					r.Message = strings.Repeat("x", 100+g*37+k)
					batch = append(batch, r)
					i++
				}
				for _, err := range w.AppendAll(batch) {
					if err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A Writer that finds the file grown by another (its size changed)
	// checks the last byte, and starts with a newline when it cannot be
	// sure of one: a blank line, which readers skip, never a glued one.
	var lines []string
	for l := range strings.SplitSeq(string(data), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != writers*each {
		t.Fatalf("have %d lines, want %d", len(lines), writers*each)
	}
	next := map[string]int{} // per writer, records must keep their order
	for i, l := range lines {
		r, err := decodeLine([]byte(l))
		if err != nil {
			t.Fatalf("line %d does not parse (interleaved?): %v\n%s", i+1, err, l)
		}
		if want := 1000 + next[r.Child]; r.PID != want {
			t.Fatalf("line %d: %s has pid %d, want %d (out of order or twice)", i+1, r.Child, r.PID, want)
		}
		next[r.Child]++
	}
}

// A path that is no use (a device, a directory below a regular file)
// fails each Append with an error naming it; once the path is a regular
// file again, the same Writer succeeds.
func TestAppendFailureThenRecovery(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	testchild.NeedRoot(t) // to make a device node
	dir := filepath.Join(t.TempDir(), "hist")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "history.jsonl")
	var full unix.Stat_t
	if err := unix.Stat("/dev/full", &full); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(path, unix.S_IFCHR|0o600, int(full.Rdev)); err != nil {
		t.Fatal(err)
	}
	w, err := OpenLater(path, Options{MaxSize: 1 << 20, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	err = w.Append(rec("a", EventStart, 1))
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Append to a device: %v; want ErrNotRegular naming %s", err, path)
	}

	// Worse: the directory is replaced by a regular file, which no
	// permission can get past.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	err = w.Append(rec("a", EventStart, 2))
	if !errors.Is(err, syscall.ENOTDIR) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Append under a regular file: %v; want ENOTDIR naming %s", err, path)
	}

	// Fixed: the next Append goes through.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(rec("a", EventStart, 3)); err != nil {
		t.Fatalf("Append after the fix: %v", err)
	}
	recs, _ := readAll(t, path)
	if len(recs) != 1 || recs[0].PID != 1003 {
		t.Errorf("have %+v, want only the record written after the fix", recs)
	}
}

// A real full disk: a small tmpfs, filled up. A write that finds no room
// fails with ENOSPC, one that finds room for part of its line is cut back,
// and once space is freed the same Writer goes on, with no torn line left.
func TestAppendDiskFullThenRecovery(t *testing.T) {
	testchild.NeedRoot(t) // to mount a tmpfs
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	path := filepath.Join(mnt, "hist", "history.jsonl")
	w := openT(t, path, Options{MaxSize: 1 << 20, Keep: 2})
	filler := filepath.Join(mnt, "filler")

	fillDisk(t, filler) // the empty history file needs a page for its first byte
	err := w.Append(rec("a", EventStart, 1))
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Append to a full disk: %v; want ENOSPC naming %s", err, path)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(rec("a", EventStart, 2)); err != nil {
		t.Fatalf("Append after space was freed: %v", err)
	}

	// The history's page has room left for part of a long record only.
	fillDisk(t, filler)
	long := rec("a", EventStop, 3)
	long.Message = strings.Repeat("x", 3*os.Getpagesize())
	if err := w.Append(long); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "bytes free") {
		t.Fatalf("Append of a record larger than the room left: %v; want ENOSPC with the free space", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(rec("a", EventStart, 4)); err != nil {
		t.Fatalf("Append after space was freed again: %v", err)
	}
	recs, warns := readAll(t, path)
	if len(recs) != 2 || recs[0].PID != 1002 || recs[1].PID != 1004 || len(warns) != 0 {
		t.Errorf("have %+v, warnings %v; want the records 2 and 4, no warnings", recs, warns)
	}
}

// fillDisk writes name until its filesystem is full.
func fillDisk(t *testing.T, name string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 512)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// A history deleted or replaced under a running Writer (rm, logrotate's
// create mode) is recreated at the next Append: a record written to an
// inode no path leads to is lost in all but name.
func TestAppendAfterFileReplaced(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace func(t *testing.T, path string)
	}{
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"renamed away and recreated", func(t *testing.T, path string) {
			if err := os.Rename(path, path+"-old"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, nil, 0o640); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "history.jsonl")
			w := openT(t, path, Options{})
			if err := w.Append(rec("a", EventStart, 1)); err != nil {
				t.Fatal(err)
			}
			tc.replace(t, path)
			if err := w.Append(rec("a", EventExit, 2)); err != nil {
				t.Fatal(err)
			}
			recs, warns := readAll(t, path)
			if len(recs) != 1 || recs[0].PID != 1002 || len(warns) != 0 {
				t.Errorf("have %+v, warnings %v; want the record written after the replacement", recs, warns)
			}
		})
	}
}

// A file truncated in place (logrotate's copytruncate) starts counting
// toward MaxSize from its new size, not from what the Writer had written.
func TestAppendAfterTruncateInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	line, _ := encodeLine(rec("a", EventStart, 1))
	w := openT(t, path, Options{MaxSize: int64(3 * len(line)), Keep: 2})
	for i := range 2 {
		if err := w.Append(rec("a", EventStart, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.Append(rec("a", EventStart, 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if nums, _ := rotatedNumbers(path); len(nums) != 0 {
		t.Errorf("rotated files %v: the Writer counted bytes that were truncated away", nums)
	}
	if recs, _ := readAll(t, path); len(recs) != 3 || recs[0].PID != 1010 {
		t.Errorf("have %+v, want the 3 records written after the truncation", recs)
	}
}

// Opening a FIFO for writing blocks until a reader comes. Neither Open nor
// an Append of a Writer from OpenLater may wait for one, nor Read for a
// writer: each refuses the path at once, with or without a reader.
func TestFIFORefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := unix.Mkfifo(path, 0o640); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		t.Helper()
		returned(t, "Open", func() error {
			w, err := Open(path, Options{})
			if err == nil {
				w.Close()
			}
			return err
		})
		returned(t, "Append", func() error {
			w, err := OpenLater(path, Options{})
			if err != nil {
				return nil // a wrong error, which returned() reports
			}
			defer w.Close()
			return w.Append(rec("a", EventStart, 1))
		})
		returned(t, "Read", func() error {
			_, _, err := Read(path, Filter{})
			return err
		})
	}
	t.Run("no reader", check)
	t.Run("a reader", func(t *testing.T) {
		r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		check(t)
	})
}

// returned runs fn, which must return an error wrapping ErrNotRegular, and
// fails the test if it has not returned within a generous bound: a call
// blocked on a FIFO never returns by itself.
func returned(t *testing.T, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("%s on a FIFO: %v; want an error saying it is not a regular file (a FIFO)", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s on a FIFO has not returned after 10s: blocked", what)
	}
}

func TestOpenFails(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		want error
		opts Options
	}{
		{"parent is a file", filepath.Join(file, "history.jsonl"), syscall.ENOTDIR, Options{}},
		{"path is a directory", tmp, syscall.EISDIR, Options{}},
		{"negative keep", filepath.Join(tmp, "h"), nil, Options{Keep: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Open(tc.path, tc.opts)
			if err == nil {
				w.Close()
				t.Fatal("Open succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("have %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %s", err, tc.path)
			}
		})
	}
}

func TestAppendAfterClose(t *testing.T) {
	w, err := Open(filepath.Join(t.TempDir(), "history.jsonl"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Append(rec("a", EventStart, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
}

// A history that cannot be opened at start is opened by the first Append
// that can, and every Append before that reports the failure.
func TestOpenLaterRetries(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "state")
	if err := os.WriteFile(parent, nil, 0o600); err != nil { // a file where a directory should be
		t.Fatal(err)
	}
	path := filepath.Join(parent, "history.jsonl")
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
	w, err := OpenLater(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Append(Record{Child: "a", Event: EventStart}); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Append before the fix: %v, want an error naming %s", err, path)
	}
	if err := os.Remove(parent); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(Record{Child: "b", Event: EventStart}); err != nil {
		t.Fatalf("Append after the fix: %v", err)
	}
	recs, _, err := Read(path, Filter{})
	if err != nil || len(recs) != 1 || recs[0].Child != "b" {
		t.Fatalf("read back %+v, %v; want the one record written after the fix", recs, err)
	}
}

// AppendAll writes several records with one write and one sync, each with
// its outcome.
func TestAppendAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w := openT(t, path, Options{})
	errs := w.AppendAll([]Record{rec("a", EventStart, 1), rec("b", EventStart, 2), rec("a", EventExit, 1)})
	for i, err := range errs {
		if err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	recs, warns := readAll(t, path)
	if len(recs) != 3 || recs[0].Child != "a" || recs[1].Child != "b" || recs[2].Event != EventExit || len(warns) != 0 {
		t.Errorf("have %+v, warnings %v", recs, warns)
	}
	w.Close()
	if errs := w.AppendAll([]Record{rec("a", EventStart, 3)}); !errors.Is(errs[0], ErrClosed) {
		t.Errorf("AppendAll after Close: %v", errs[0])
	}
}

// The records AppendAll writes are its first ones: when a rotation cannot
// even reopen the path, the records after it fail with an error that does
// not claim them written (not ErrRotate), and those before are in the
// file. When the rotation fails but the old file reopens, every record is
// written and carries ErrRotate.
func TestAppendAllRotationFailures(t *testing.T) {
	line, _ := encodeLine(rec("a", EventStart, 1))
	batch := func() []Record {
		var b []Record
		for i := range 5 {
			b = append(b, rec("a", EventStart, 1+i))
		}
		return b
	}
	t.Run("path unusable after the rename", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "history.jsonl")
		w := openT(t, path, Options{MaxSize: int64(2 * len(line)), Keep: 3})
		w.ops = dirAfterRename{path}
		errs := w.AppendAll(batch())
		for i, err := range errs {
			switch {
			case i < 2 && err != nil:
				t.Errorf("record %d: %v, want written", i, err)
			case i >= 2 && (err == nil || errors.Is(err, ErrRotate) || !errors.Is(err, syscall.EISDIR)):
				t.Errorf("record %d: %v, want an EISDIR error that is not ErrRotate", i, err)
			}
		}
		recs, _ := readAll(t, path+".1")
		if len(recs) != 2 || recs[0].PID != 1001 || recs[1].PID != 1002 {
			t.Errorf("rotated file holds %+v, want the first two records", recs)
		}
	})
	t.Run("rename refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "history.jsonl")
		w := openT(t, path, Options{MaxSize: int64(2 * len(line)), Keep: 3})
		w.ops = &countingOps{limit: 0}
		for i, err := range w.AppendAll(batch()) {
			if i < 2 && err != nil || i >= 2 && !errors.Is(err, ErrRotate) {
				t.Errorf("record %d: %v, want %s", i, err, map[bool]string{true: "nil", false: "ErrRotate"}[i < 2])
			}
		}
		if recs, _ := readAll(t, path); len(recs) != 5 {
			t.Errorf("have %d records in the live file, want all 5", len(recs))
		}
	})
}

// dirAfterRename renames, and then puts a directory where the live file
// was, so that the rotation cannot reopen it.
type dirAfterRename struct{ path string }

func (d dirAfterRename) Rename(dir *safefs.Dir, from, to string) error {
	if err := dir.Rename(from, to); err != nil {
		return err
	}
	if from == filepath.Base(d.path) {
		sub, err := dir.Mkdir(from, safefs.Perm{Mode: 0o750})
		if err != nil {
			return err
		}
		return sub.Close()
	}
	return nil
}

func (dirAfterRename) Remove(dir *safefs.Dir, name string) error { return dir.Remove(name) }

// A record that cannot be encoded fails alone, with ErrEncode; the others
// of its batch are written, in order.
func TestAppendAllEncodeError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w := openT(t, path, Options{})
	bad := rec("a", EventRestart, 2)
	bad.Evidence = &health.Evidence{FDs: &health.FDUsage{SlopePerMin: math.NaN()}}
	errs := w.AppendAll([]Record{rec("a", EventStart, 1), bad, rec("a", EventExit, 3)})
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], ErrEncode) || !strings.Contains(errs[1].Error(), path) {
		t.Errorf("errors %v; want only the second, ErrEncode naming %s", errs, path)
	}
	recs, _ := readAll(t, path)
	if len(recs) != 2 || recs[0].PID != 1001 || recs[1].PID != 1003 {
		t.Errorf("have %+v, want the first and the third record", recs)
	}
}
