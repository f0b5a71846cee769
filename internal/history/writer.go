//go:build linux

package history

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultPath is where the history is kept when the configuration names no
// file.
const DefaultPath = "/var/lib/resreap/history.jsonl"

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("history: writer closed")

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

// Writer appends records to a history file. It is safe for concurrent use.
// Every record reaches the file whole in a single write(2) on an O_APPEND
// descriptor, so lines never interleave, not even with another process
// appending to the same file.
//
// Appends that arrive while a write and fsync are in progress queue up, and
// the next of them to run writes the whole queue with one write and one
// fsync (group commit). A burst of events, such as every child losing the
// same backend at once, then costs one fsync per burst instead of one per
// record, and no Append waits for more than the sync in progress and its
// own.
//
// A Writer survives write failures: after an error it closes its
// descriptor and reopens the path on the next Append, so a full disk costs
// the records written meanwhile, never the supervisor. A file deleted or
// replaced under it costs nothing: it is reopened before the next write.
type Writer struct {
	path string
	opts Options
	ops  fileOps // the renames and removals of a rotation

	mu     sync.Mutex // guards queue and closed
	queue  *batch     // records waiting for the next write
	closed bool

	// flushMu is held by the one goroutine writing; it guards the file.
	flushMu sync.Mutex
	f       *os.File    // nil after a failure, until the next write reopens
	st      os.FileInfo // f's identity when opened, to notice a replaced path
	size    int64       // bytes in the live file, for rotation
	torn    bool        // the file does not end in '\n': start the next write with one
}

// batch is a queue of records written together. done and the errors are
// set, and read, only under flushMu.
type batch struct {
	recs []*pending
	done bool
}

// pending is one queued record and, once written, its outcome.
type pending struct {
	line []byte
	err  error
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
// Append blocks: for the write(2) and fsync(2) of its record and of the
// batch being written when it was called, which on a slow or failing disk
// can take seconds or, on a hung network filesystem, never end. Callers
// that must not stall call it from a goroutine of their own.
//
// On error the record may be missing or, if only the sync failed, present
// but not known to be durable; the error names the path. The Writer stays
// usable: the next Append tries again. An error wrapping ErrRotate means the
// record was written and only the rotation failed.
func (w *Writer) Append(rec Record) error {
	return w.AppendAll([]Record{rec})[0]
}

// AppendAll is Append for several records at once: they are written and
// synced together, one fsync for all of them. errs[i] is the outcome of
// recs[i], as Append's would be.
func (w *Writer) AppendAll(recs []Record) (errs []error) {
	errs = make([]error, len(recs))
	ps := make([]*pending, 0, len(recs))
	idx := make([]int, 0, len(recs))
	for i, rec := range recs {
		if rec.Time.IsZero() {
			rec.Time = time.Now()
		}
		line, err := encodeLine(rec)
		if err != nil {
			errs[i] = pathError("append to", w.path, fmt.Errorf("encode: %w", err))
			continue
		}
		ps = append(ps, &pending{line: line})
		idx = append(idx, i)
	}
	if len(ps) == 0 {
		return errs
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		for _, i := range idx {
			errs[i] = ErrClosed
		}
		return errs
	}
	if w.queue == nil {
		w.queue = &batch{}
	}
	b := w.queue
	b.recs = append(b.recs, ps...)
	w.mu.Unlock()

	w.flushMu.Lock()
	if !b.done {
		w.mu.Lock()
		w.queue = nil
		w.mu.Unlock()
		w.flush(b)
	}
	w.flushMu.Unlock()
	for j, p := range ps {
		errs[idx[j]] = p.err
	}
	return errs
}

// Close writes what is queued, then closes the file. Later Appends return
// ErrClosed; a second Close does nothing.
func (w *Writer) Close() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	b := w.queue
	w.queue = nil
	w.mu.Unlock()
	if b != nil {
		w.flush(b)
	}
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

// flush writes the records of b, rotating between them where MaxSize says
// so, and records each one's outcome. Called with flushMu held.
func (w *Writer) flush(b *batch) {
	defer func() { b.done = true }()
	recs := b.recs
	var rotErr error
	for len(recs) > 0 {
		if err := w.current(); err != nil {
			setErr(recs, pathError("append to", w.path, err))
			return
		}
		if rotErr == nil && w.opts.MaxSize > 0 && w.size > 0 &&
			w.size+int64(len(recs[0].line)) > w.opts.MaxSize {
			if err := w.rotate(); err != nil {
				// Keep appending to the old file; retrying the rotation
				// for every record of this batch would not help.
				rotErr = pathError("append to", w.path, fmt.Errorf("%w: %w", ErrRotate, err))
			}
			if w.f == nil { // not even the old file could be reopened
				setErr(recs, rotErr)
				return
			}
		}
		n := len(recs)
		if rotErr == nil {
			n = w.fitting(recs)
		}
		if err := w.write(recs[:n]); err != nil {
			// The disk is failing now; the next Append tries again.
			setErr(recs, pathError("append to", w.path, err))
			return
		}
		setErr(recs[:n], rotErr)
		recs = recs[n:]
	}
}

// fitting returns how many of recs fit in the live file before it reaches
// MaxSize; at least one, as a record larger than MaxSize goes alone.
func (w *Writer) fitting(recs []*pending) int {
	if w.opts.MaxSize == 0 {
		return len(recs)
	}
	size := w.size
	for i, p := range recs {
		size += int64(len(p.line))
		if size > w.opts.MaxSize {
			return max(i, 1)
		}
	}
	return len(recs)
}

func setErr(recs []*pending, err error) {
	for _, p := range recs {
		p.err = err
	}
}
