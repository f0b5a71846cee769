//go:build linux

package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/resreap/resreap/internal/safefs"
)

// Filter selects records. The zero value selects everything.
type Filter struct {
	Child  string    // only this child; "" = every child
	Since  time.Time // only records at or after Since; zero = no bound
	Until  time.Time // only records at or before Until; zero = no bound
	Events []Event   // only these events; empty = every event
	Last   int       // only the newest Last matching records; 0 = all
}

// Match reports whether rec passes the filter (Last aside, which applies to
// the whole result).
func (f Filter) Match(rec Record) bool {
	if f.Child != "" && rec.Child != f.Child {
		return false
	}
	if !f.Since.IsZero() && rec.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && rec.Time.After(f.Until) {
		return false
	}
	return len(f.Events) == 0 || slices.Contains(f.Events, rec.Event)
}

// Warning is a line of a history file that was skipped: torn by a crash
// mid-write, or not a record at all.
type Warning struct {
	File string
	Line int // 1-based; 0 for a warning about no one line
	Err  error
}

// String formats the warning as "file:line: skipped: reason", or
// "file: reason" for one about no line (Line 0).
func (w Warning) String() string {
	if w.Line == 0 {
		return fmt.Sprintf("%s: %v", w.File, w.Err)
	}
	return fmt.Sprintf("%s:%d: skipped: %v", w.File, w.Line, w.Err)
}

// errNoNewline marks a final line cut short. Append writes a record and
// its newline in one write, so a line without one was never acknowledged to
// the caller, even when the JSON before the cut happens to be complete.
var errNoNewline = errors.New("torn line (no newline at end of file)")

// Read returns the records of the history at path that pass f, oldest
// first: the rotated files path.N … path.1, then path itself. Damaged lines
// are skipped and reported as warnings; every whole record around them is
// returned. The error is for a history that cannot be read at all: no file
// exists, or one cannot be opened or read.
//
// The files are opened through safefs, as the Writer opens them: a link in
// their place, a file with several links or one of another user, and a
// directory on the way that another user may write are refused, so no
// reader run as root shows what such a user pointed it at.
//
// Read does not lock against a Writer: a rotation during the read may show a
// few records twice or not at all, which is harmless for a report.
func Read(path string, f Filter) ([]Record, []Warning, error) {
	recs, warns, live, err := read(path, f, false)
	if live != nil {
		live.Close()
	}
	return recs, warns, err
}

// read is Read; with follow, the live file is kept open (in the
// returned Follower, nil when there is no live file yet) where its last
// whole line ended, and a line it has not finished yet is no warning:
// its writer is still writing it.
func read(path string, f Filter, follow bool) ([]Record, []Warning, *Follower, error) {
	var recs []Record
	keep := func(rec Record) {
		if !f.Match(rec) {
			return
		}
		recs = append(recs, rec)
		// With -n, memory stays bounded by twice the records asked for.
		if f.Last > 0 && len(recs) >= 2*f.Last {
			recs = append(recs[:0], recs[len(recs)-f.Last:]...)
		}
	}
	warns, fl, err := scan(path, f, follow, keep)
	if err != nil {
		return nil, warns, nil, err
	}
	if f.Last > 0 && len(recs) > f.Last {
		recs = recs[len(recs)-f.Last:]
	}
	return recs, warns, fl, nil
}

// each feeds every record of the history at path to fn, oldest first,
// as Read reads them, keeping none.
func each(path string, fn func(Record)) ([]Warning, error) {
	warns, _, err := scan(path, Filter{}, false, fn)
	return warns, err
}

// scan feeds every record of the history at path to fn, oldest first:
// the rotated files path.N … path.1, then path itself. With follow, the
// live file is kept open in the returned Follower (which filters with f).
func scan(path string, f Filter, follow bool, fn func(Record)) ([]Warning, *Follower, error) {
	// safefs walks from the root: a relative path (history -f FILE) is
	// taken from the working directory first.
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("history: %w", err)
	}
	d, err := safefs.OpenDir(filepath.Dir(path), policy())
	if err != nil {
		return nil, nil, pathError("open", path, err)
	}
	base := filepath.Base(path)
	nums, err := rotatedIn(d, base)
	if err != nil {
		d.Close()
		return nil, nil, fmt.Errorf("history: %w", err)
	}
	names := make([]string, 0, len(nums)+1)
	for i := len(nums) - 1; i >= 0; i-- {
		names = append(names, rotatedName(base, nums[i]))
	}
	names = append(names, base)

	var (
		warns   []Warning
		found   bool
		liveErr error
	)
	fl := &Follower{path: path, name: base, d: d, filter: f}
	for _, name := range names {
		live := follow && name == base
		fh, w, end, err := readFile(d, name, filepath.Join(filepath.Dir(path), name), fn, live)
		if errors.Is(err, fs.ErrNotExist) {
			liveErr = err
			continue // rotated away since the listing, or no live file yet
		}
		if err != nil {
			d.Close()
			return warns, nil, fmt.Errorf("history: %w", err)
		}
		found = true
		warns = append(warns, w...)
		if live {
			fl.f, fl.at = fh, end
		}
	}
	if !found {
		d.Close()
		return nil, nil, fmt.Errorf("history: %w", liveErr)
	}
	if !follow {
		d.Close()
		return warns, nil, nil
	}
	return warns, fl, nil
}

// readFile opens the history file name in d (path, for messages) and
// feeds its records to fn. Anything but a regular file is refused at once:
// an open of a FIFO would wait for a writer. With keep, the file is
// returned open, with where its last whole line ends (a line not
// finished yet is no warning); otherwise it is closed.
func readFile(d *safefs.Dir, name, path string, fn func(Record), keep bool) (*os.File, []Warning, linePos, error) {
	fh, err := d.OpenRead(name)
	if err != nil {
		return nil, nil, linePos{}, refused(d, name, path, err)
	}
	warns, end, err := parseLines(fh, path, linePos{line: 1}, !keep, fn)
	if err != nil || !keep {
		fh.Close()
		return nil, warns, end, err
	}
	return fh, warns, end, nil
}

// linePos is a place in a history file: the byte offset of the start of
// a line and its 1-based number.
type linePos struct {
	off  int64
	line int
}

// parseLines feeds every record in r, which starts at at, to fn and
// returns a warning for each line that is not one, and where the last
// line read whole ends. Blank lines are skipped silently: the Writer may
// add one to end a torn line it found. A last line without its newline
// is a warning when torn is true, and left unread otherwise. The error is
// a read error of r.
func parseLines(r io.Reader, name string, at linePos, torn bool, fn func(Record)) ([]Warning, linePos, error) {
	var warns []Warning
	br := bufio.NewReaderSize(r, 64<<10)
	for ; ; at.line++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return warns, at, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if err == io.EOF {
			if torn && len(bytes.TrimSpace(line)) > 0 {
				warns = append(warns, Warning{File: name, Line: at.line, Err: errNoNewline})
			}
			return warns, at, nil
		}
		at.off += int64(len(line))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, perr := decodeLine(line)
		if perr != nil {
			warns = append(warns, Warning{File: name, Line: at.line, Err: fmt.Errorf("not a record: %w", perr)})
			continue
		}
		fn(rec)
	}
}
