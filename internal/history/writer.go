//go:build linux

package history

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultPath is where the history is kept when the configuration names no
// file.
const DefaultPath = "/var/lib/resreap/history.jsonl"

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("history: writer closed")

// ErrEncode marks a record that cannot be encoded as JSON (a NaN in its
// evidence, say): it was not written and never will be, so it is not
// worth handing again.
var ErrEncode = errors.New("record cannot be encoded")

// ErrRotate marks an Append whose record was written and synced but whose
// size rotation failed: the live file keeps growing until a later rotation
// succeeds.
var ErrRotate = errors.New("rotation failed (record written)")

// Options tune a Writer. The zero value never rotates.
type Options struct {
	// MaxSize is the size in bytes the live file may reach before it is
	// rotated; 0 disables rotation. A single record larger than MaxSize is
	// still written, alone in a fresh file.
	MaxSize int64
	// Keep is the number of rotated files kept (path.1 … path.Keep, .1 the
	// newest). With rotation on and Keep 0, old records are discarded.
	Keep int
}

// Writer appends records to a history file. It is not safe for concurrent
// use: one goroutine owns it and makes every call (the supervisor's
// recorder, the watchdog's emitter under its lock), so the Writer keeps no
// queue and no lock of its own. A caller with events from several
// goroutines queues them to that owner, which hands a burst to AppendAll:
// one write and one fsync for all of them.
//
// Every batch reaches the file whole in a single write(2) on an O_APPEND
// descriptor, so lines never interleave, not even with another process
// appending to the same file.
//
// A Writer survives write failures: after an error it closes its
// descriptor and reopens the path on the next append, so a full disk costs
// the caller an error (and the records it does not write again), never a
// broken Writer. A file deleted or replaced under it costs nothing: it is
// reopened before the next write.
type Writer struct {
	path   string
	opts   Options
	ops    fileOps // the renames and removals of a rotation
	closed bool

	f    *os.File    // nil after a failure, until the next write reopens
	st   os.FileInfo // f's identity when opened, to notice a replaced path
	size int64       // bytes in the live file, for rotation
	torn bool        // the file does not end in '\n': start the next write with one
}

// Open opens (creating it and its directory if needed) the history file at
// path for appending. The directory is made 0750 and the file 0640: the
// history names commands and peers that not every local user should read.
// A path that is not a regular file (a FIFO, a device) is refused with an
// error wrapping ErrNotRegular; the open never waits for a FIFO's reader.
// Like any open(2), it takes as long as the filesystem takes to answer.
func Open(path string, opts Options) (*Writer, error) {
	w, err := OpenLater(path, opts)
	if err != nil {
		return nil, err
	}
	if err := w.open(); err != nil {
		return nil, pathError("open", path, err)
	}
	return w, nil
}

// OpenLater returns a Writer that opens path at its first Append, and
// again at every Append after a failure: for a supervisor whose history
// is not writable when it starts (a full disk at boot), so recording
// begins as soon as it can. Only bad options are an error; it does not
// touch the file system, so it returns at once.
func OpenLater(path string, opts Options) (*Writer, error) {
	if opts.MaxSize < 0 || opts.Keep < 0 {
		return nil, fmt.Errorf("history: open %s: negative MaxSize or Keep", path)
	}
	return &Writer{path: path, opts: opts, ops: osFileOps{}}, nil
}

// Append writes rec as one line and syncs it to disk before returning nil,
// so a caller that reports the event only after Append returned never
// reports what a crash could lose. A zero rec.Time is set to now. If the
// file at the path is not the one the Writer has open (deleted, replaced),
// the path is reopened first, so the record lands where Read looks.
//
// Append blocks for the write(2) and fsync(2) of its record, which on a
// slow or failing disk can take seconds or, on a hung network filesystem,
// never end. Callers that must not stall call it from a goroutine of their
// own.
//
// On error the record may be missing or, if only the sync failed, present
// but not known to be durable; the error names the path. The Writer stays
// usable: the next Append tries again, and a caller that keeps the record
// may hand it again. An error wrapping ErrRotate means the record was
// written and only the rotation failed; one wrapping ErrEncode, that the
// record can never be written.
func (w *Writer) Append(rec Record) error {
	return w.AppendAll([]Record{rec})[0]
}

// AppendAll is Append for several records at once: they are written and
// synced together, one write(2) and one fsync for all of them (more only
// where a rotation falls between them). errs[i] is the outcome of recs[i],
// as Append's would be.
//
// The records written are always the first ones: once a write fails,
// every record after it has an error too, so a caller that retries from
// the first record with an error (ErrEncode's aside) keeps the order of
// the file.
func (w *Writer) AppendAll(recs []Record) (errs []error) {
	errs = make([]error, len(recs))
	if w.closed {
		for i := range errs {
			errs[i] = ErrClosed
		}
		return errs
	}
	lines := make([][]byte, 0, len(recs))
	idx := make([]int, 0, len(recs)) // lines[j] is recs[idx[j]]
	for i, rec := range recs {
		if rec.Time.IsZero() {
			rec.Time = time.Now()
		}
		line, err := encodeLine(rec)
		if err != nil {
			errs[i] = pathError("append to", w.path, fmt.Errorf("%w: %w", ErrEncode, err))
			continue
		}
		lines = append(lines, line)
		idx = append(idx, i)
	}
	lineErrs := make([]error, len(lines))
	w.flush(lines, lineErrs)
	for j, i := range idx {
		errs[i] = lineErrs[j]
	}
	return errs
}

// Close closes the file. Later Appends return ErrClosed; a second Close
// does nothing.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return pathError("close", w.path, err)
	}
	return nil
}

// flush writes lines, rotating between them where MaxSize says so, and
// sets errs[i] to the outcome of lines[i]: nil, or ErrRotate's error for a
// line written after a rotation failed; the lines from the first that
// could not be written on all have that error.
func (w *Writer) flush(lines [][]byte, errs []error) {
	var rotErr error
	for n := 0; n < len(lines); {
		if err := w.current(); err != nil {
			setErr(errs[n:], pathError("append to", w.path, err))
			return
		}
		if rotErr == nil && w.opts.MaxSize > 0 && w.size > 0 &&
			w.size+int64(len(lines[n])) > w.opts.MaxSize {
			if err := w.rotate(); err != nil {
				if w.f == nil { // not even the old file could be reopened
					setErr(errs[n:], pathError("append to", w.path, fmt.Errorf("rotate: %w", err)))
					return
				}
				// Keep appending to the old file; retrying the rotation
				// for every record of this batch would not help.
				rotErr = pathError("append to", w.path, fmt.Errorf("%w: %w", ErrRotate, err))
			}
		}
		k := len(lines) - n
		if rotErr == nil {
			k = w.fitting(lines[n:])
		}
		if err := w.write(lines[n : n+k]); err != nil {
			// The disk is failing now; the next append tries again.
			setErr(errs[n:], pathError("append to", w.path, err))
			return
		}
		setErr(errs[n:n+k], rotErr)
		n += k
	}
}

// fitting returns how many of lines fit in the live file before it
// reaches MaxSize; at least one, as a record larger than MaxSize goes
// alone.
func (w *Writer) fitting(lines [][]byte) int {
	if w.opts.MaxSize == 0 {
		return len(lines)
	}
	size := w.size
	for i, l := range lines {
		size += int64(len(l))
		if size > w.opts.MaxSize {
			return max(i, 1)
		}
	}
	return len(lines)
}

func setErr(errs []error, err error) {
	for i := range errs {
		errs[i] = err
	}
}
