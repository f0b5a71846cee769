//go:build linux

package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/resreap/resreap/internal/safefs"
)

// Filter selects records. The zero value selects everything.
type Filter struct {
	Child  string    // only this child; "" = every child
	Since  time.Time // only records at or after Since; zero = no bound
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
	return len(f.Events) == 0 || slices.Contains(f.Events, rec.Event)
}

// Warning is a line of a history file that was skipped: torn by a crash
// mid-write, or not a record at all.
type Warning struct {
	File string
	Line int // 1-based
	Err  error
}

// String formats the warning as "file:line: skipped: reason".
func (w Warning) String() string {
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
	warns, err := each(path, keep)
	if err != nil {
		return nil, warns, err
	}
	if f.Last > 0 && len(recs) > f.Last {
		recs = recs[len(recs)-f.Last:]
	}
	return recs, warns, nil
}

// each feeds every record of the history at path to fn, oldest first,
// as Read reads them, keeping none.
func each(path string, fn func(Record)) ([]Warning, error) {
	d, err := safefs.OpenDir(filepath.Dir(path), policy())
	if err != nil {
		return nil, pathError("open", path, err)
	}
	defer d.Close()
	base := filepath.Base(path)
	nums, err := rotatedIn(d, base)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
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
	for _, name := range names {
		w, err := readFile(d, name, filepath.Join(filepath.Dir(path), name), fn)
		if errors.Is(err, fs.ErrNotExist) {
			liveErr = err
			continue // rotated away since the listing, or no live file yet
		}
		if err != nil {
			return warns, fmt.Errorf("history: %w", err)
		}
		found = true
		warns = append(warns, w...)
	}
	if !found {
		return nil, fmt.Errorf("history: %w", liveErr)
	}
	return warns, nil
}

// readFile opens the history file name in d (path, for messages) and
// feeds its records to fn. Anything but a regular file is refused at once:
// an open of a FIFO would wait for a writer.
func readFile(d *safefs.Dir, name, path string, fn func(Record)) ([]Warning, error) {
	fh, err := d.OpenRead(name)
	if err != nil {
		return nil, refused(d, name, path, err)
	}
	defer fh.Close()
	return parseLines(fh, path, fn)
}

// parseLines feeds every record in r to fn and returns a warning for each
// line that is not one. Blank lines are skipped silently: the Writer may add
// one to end a torn line it found. The error is a read error of r.
func parseLines(r io.Reader, name string, fn func(Record)) ([]Warning, error) {
	var warns []Warning
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return warns, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if err == io.EOF {
			if len(bytes.TrimSpace(line)) > 0 {
				warns = append(warns, Warning{File: name, Line: lineNo, Err: errNoNewline})
			}
			return warns, nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, perr := decodeLine(line)
		if perr != nil {
			warns = append(warns, Warning{File: name, Line: lineNo, Err: fmt.Errorf("not a record: %w", perr)})
			continue
		}
		fn(rec)
	}
}
