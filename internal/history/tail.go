//go:build linux

package history

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/resreap/resreap/internal/safefs"
)

// Follower reads the records appended to a history after Follow read it,
// the way `tail -F` follows a log: resreap history --follow.
//
// A rotation (the live file renamed to path.1, a new one created) is seen
// as the name pointing at another file than the one held. The held file
// is read to its end before the new one is read from its start, and the
// name is looked up before the held file is read, so that read covers
// everything written before the new file existed: no record is missed on
// either side of a rotation. The directory is held open, as the Writer's
// is looked up, so the files are always those of the directory Follow
// checked (safefs), never one a link put in its place.
//
// A Follower is used by one goroutine.
type Follower struct {
	path, name string
	d          *safefs.Dir
	f          *os.File // the live file being read; nil until there is one
	at         linePos  // where its next line starts
	filter     Filter
}

// Follow returns what Read returns, and a Follower that reads the records
// written after those, from where Read stopped in the live file. Close
// the Follower when done.
func Follow(path string, f Filter) ([]Record, []Warning, *Follower, error) {
	return read(path, f, true)
}

// Next returns the records written since the last call (or since Follow)
// that pass the filter, Last aside, oldest first, with a warning for each
// line that is not a record. A line whose writer has not finished it is
// left for the next call. It returns nothing, and no error, while the
// live file does not exist.
func (fl *Follower) Next() ([]Record, []Warning, error) {
	var (
		recs  []Record
		warns []Warning
	)
	keep := func(r Record) {
		if fl.filter.Match(r) {
			recs = append(recs, r)
		}
	}
	for {
		named, err := fl.d.Lstat(fl.name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return recs, warns, fmt.Errorf("history: %w", err)
		}
		exists := err == nil
		if fl.f != nil {
			w, err := fl.drain(keep)
			warns = append(warns, w...)
			if err != nil {
				return recs, warns, fmt.Errorf("history: %w", err)
			}
			held, err := fl.f.Stat()
			if err != nil {
				return recs, warns, fmt.Errorf("history: %w", err)
			}
			if !exists || sameFile(&named, held) {
				return recs, warns, nil // no successor yet, or no rotation
			}
			fl.f.Close()
			fl.f = nil
			w, err = fl.between(held, keep)
			warns = append(warns, w...)
			if err != nil {
				return recs, warns, fmt.Errorf("history: %w", err)
			}
		} else if !exists {
			return recs, warns, nil
		}
		fh, err := fl.d.OpenRead(fl.name)
		if errors.Is(err, fs.ErrNotExist) {
			return recs, warns, nil // gone again: the next call opens its successor
		}
		if err != nil {
			return recs, warns, fmt.Errorf("history: %w", refused(fl.d, fl.name, fl.path, err))
		}
		fl.f, fl.at = fh, linePos{line: 1}
	}
}

// between feeds fn the records of the files rotated after held, the file
// followed until now: several rotations may have happened since the last
// look. held is found among path.N by its inode; path.N-1 … path.1 came
// after it. When it is not there (rotated out of Keep already), what came
// between cannot be told, and a warning says records may be missing.
func (fl *Follower) between(held os.FileInfo, fn func(Record)) ([]Warning, error) {
	nums, err := rotatedIn(fl.d, fl.name)
	if err != nil {
		return nil, err
	}
	at := -1
	for i, n := range nums {
		if st, err := fl.d.Lstat(rotatedName(fl.name, n)); err == nil && sameFile(&st, held) {
			at = i
			break
		}
	}
	dir := filepath.Dir(fl.path)
	if at < 0 {
		return []Warning{{File: fl.path, Err: errRotatedAway}}, nil
	}
	var warns []Warning
	for i := at - 1; i >= 0; i-- {
		name := rotatedName(fl.name, nums[i])
		_, w, _, err := readFile(fl.d, name, filepath.Join(dir, name), fn, false)
		warns = append(warns, w...)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return warns, err
		}
	}
	return warns, nil
}

// errRotatedAway says that the file being followed was rotated out of the
// kept files before the follower could tell which came after it.
var errRotatedAway = errors.New("rotated away before it was read to the end: records written meanwhile may be missing")

// drain feeds the lines of the held file from fl.at to its end to fn; one
// shorter than fl.at (truncated in place) is read from its start.
func (fl *Follower) drain(fn func(Record)) ([]Warning, error) {
	st, err := fl.f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < fl.at.off {
		fl.at = linePos{line: 1}
	}
	r := io.NewSectionReader(fl.f, fl.at.off, math.MaxInt64-fl.at.off)
	warns, at, err := parseLines(r, filepath.Join(filepath.Dir(fl.path), fl.name), fl.at, false, fn)
	fl.at = at
	return warns, err
}

// Close releases the files held.
func (fl *Follower) Close() error {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
	return fl.d.Close()
}
