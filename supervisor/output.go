//go:build linux

package supervisor

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/safefs"
	"github.com/resreap/resreap/internal/textsafe"
)

// maxQueued bounds the bytes of child output waiting for a writer: a
// little over a second of a very chatty child, and a bounded cost when
// nobody reads at all.
const maxQueued = 4 << 20

// closeWait bounds how long closing a lineQueue waits for its writer: one
// stuck in a write to a pipe nobody reads never returns, and shutdown must
// not wait for it.
const closeWait = 2 * time.Second

// lineQueue writes whole lines to w from a goroutine of its own, through a
// bounded queue. A writer that blocks (a stopped log shipper, a full pipe,
// a terminal on hold) holds up no child and no part of supervision: when
// the queue is full, new lines are dropped and counted, and once w takes
// lines again a line says how many were lost. Lines of several children
// never interleave within a line.
type lineQueue struct {
	w    io.Writer
	name string // "stdout" or "stderr", or the file, for the notice of drops
	// onWriteErr, if set, is told of lines w failed to take (counted as
	// lost), once per batch, from the writer's goroutine.
	onWriteErr func(lines int, err error)

	mu      sync.Mutex
	lines   [][]byte
	bytes   int
	dropped int   // lines dropped since the last notice
	lost    int64 // lines dropped in all
	closed  bool
	wake    chan struct{} // buffered 1: lines are waiting, or closed
	done    chan struct{} // closed when the writer returns
}

func newLineQueue(w io.Writer, name string) *lineQueue {
	q := &lineQueue{w: w, name: name, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// put queues prefix+line+"\n" without ever blocking.
func (q *lineQueue) put(prefix string, line []byte) {
	b := make([]byte, 0, len(prefix)+len(line)+1)
	b = append(append(append(b, prefix...), line...), '\n')
	q.mu.Lock()
	switch {
	case q.closed:
	case q.bytes+len(b) > maxQueued:
		q.dropped++
		q.lost++
	default:
		q.lines = append(q.lines, b)
		q.bytes += len(b)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Lost returns how many lines were dropped in all.
func (q *lineQueue) Lost() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lost
}

func (q *lineQueue) run() {
	defer close(q.done)
	for range q.wake {
		q.mu.Lock()
		lines, dropped, closed := q.lines, q.dropped, q.closed
		q.lines, q.bytes, q.dropped = nil, 0, 0
		q.mu.Unlock()
		failed, lastErr := q.writeLines(lines)
		if dropped > 0 {
			fmt.Fprintf(q.w, "resreap: %s of child output dropped: %s was not being read\n", plural(dropped, "line", "lines"), q.name) //nolint:errcheck // counted already
		}
		if failed > 0 && q.onWriteErr != nil {
			q.mu.Lock()
			q.lost += int64(failed)
			q.mu.Unlock()
			q.onWriteErr(failed, lastErr)
		}
		if closed {
			return
		}
	}
}

// writeChunk bounds one write of whole lines: a few system calls for a
// burst of short lines rather than one per line.
const writeChunk = 64 << 10

// writeLines writes lines to w, as few lines per Write as fit in
// writeChunk (a longer line alone), and returns how many lines a failed
// Write lost, and its error.
func (q *lineQueue) writeLines(lines [][]byte) (failed int, lastErr error) {
	var buf []byte
	n := 0
	flush := func() {
		if _, err := q.w.Write(buf); err != nil {
			failed, lastErr = failed+n, err
		}
		buf, n = buf[:0], 0
	}
	for _, l := range lines {
		if len(buf) > 0 && len(buf)+len(l) > writeChunk {
			flush()
		}
		buf = append(buf, l...)
		n++
	}
	if n > 0 {
		flush()
	}
	return failed, lastErr
}

// close writes what is queued and stops the writer, waiting for it at
// most closeWait; it reports whether the writer returned.
func (q *lineQueue) close() bool {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	select {
	case <-q.done:
		return true
	case <-time.After(closeWait):
		return false
	}
}

// outputLine hands one line of a child's output (without its newline) to
// q with prefix, to the capture tap while one is installed, and to the
// process's output tail (from stderr or stdout); esc is the buffer for
// the escaped line, returned for reuse. The output poller (outpoll.go)
// cuts the lines: at each newline, at 64 KiB without one, at the end of
// the pipe.
//
// A line with a prefix ("NAME | ") goes to resreap's own stdout or
// stderr, a terminal perhaps, among other children's lines and the log:
// it is escaped (textsafe), so that a child's colors or escape sequences
// cannot repaint or retitle the operator's terminal. A line without one
// goes to the child's own file, and the capture tap gets it too, as the
// child wrote it. A line cut at 64 KiB may show the bytes of a
// character cut in two escaped.
func outputLine(line []byte, prefix string, q *lineQueue, tap *tapOutput, tail *outputTail, stderr bool, esc []byte) []byte {
	if prefix != "" {
		esc = textsafe.AppendEscape(esc[:0], line)
		q.put(prefix, esc)
	} else {
		q.put(prefix, line)
	}
	if t := tap.Load(); t != nil {
		t.add(line)
	}
	tail.add(line, stderr)
	return esc
}

// fileOutput is a child output file: lines go through a lineQueue, so a
// slow or full disk never blocks the child or supervision, to an outFile
// that rotates the file at max_size and keeps keep rotated files. A line
// is written in one Write, so a rotation falls between lines, never
// within one.
type fileOutput struct {
	q *lineQueue
	w *outFile
}

// fileKey is what makes two file outputs one: the same settings for the
// same file, and the same owners. Stdout and stderr of one child, or
// children of one user, naming the same file share one writer, so their
// lines never interleave within a line and the file rotates once.
type fileKey struct {
	spec config.OutputSpec
	set  outSettings
}

// fileKeyOf resolves who owns o's files, for a child of spec: the child's
// user may own their directory (safefs.Policy), and resreap creates them
// owned as o says (config.OutputSpec.FileOwner).
func fileKeyOf(spec *config.ChildSpec, o config.OutputSpec) (fileKey, error) {
	cuid, err := childUID(spec)
	if err != nil {
		return fileKey{}, err
	}
	pol := safefs.Policy{UID: cuid}
	uid, gid, err := o.FileOwner(spec.User)
	if err != nil {
		return fileKey{}, err
	}
	set := outSettings{pol: pol, perm: safefs.Perm{UID: uid, GID: gid, Mode: o.FileMode}, maxSize: o.MaxSize, keep: o.Keep, compress: o.Compress}
	return fileKey{spec: o, set: set}, nil
}

// childUID is the user a child of spec runs as: 0 (root) without one.
func childUID(spec *config.ChildSpec) (int, error) {
	if spec.User == "" {
		return 0, nil
	}
	u, err := config.LookupUser(spec.User)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Uid)
}

// fileOutput returns the writer of the file output o of a child of spec,
// made on first use (nothing is opened then) and kept until shutdown.
func (s *Supervisor) fileOutput(spec *config.ChildSpec, o config.OutputSpec) (*fileOutput, error) {
	key, err := fileKeyOf(spec, o)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[key]
	if f == nil {
		log := s.log.With().Str("child", spec.Name).Logger()
		w := newOutFile(o.File, key.set, log)
		q := newLineQueue(w, o.File)
		q.onWriteErr = func(n int, err error) {
			log.Error().Err(err).Str("file", o.File).Int("lines", n).Msgf("%s of child output lost: %v", plural(n, "line", "lines"), err)
		}
		f = &fileOutput{q: q, w: w}
		s.files[key] = f
	}
	return f, nil
}

// openOutputs opens the output files of spec that are not open yet: a
// start calls it before the program runs. A file resreap must not write
// (a link planted in its place, a directory another user could change, an
// unknown owner) fails the start with the file and the reason, in the
// log, the status and the history, as systemd fails a unit whose
// StandardOutput=file: cannot be opened; a child running with its output
// going nowhere would look healthy.
func (s *Supervisor) openOutputs(spec *config.ChildSpec) error {
	for _, out := range []struct {
		name string
		spec config.OutputSpec
	}{{"stdout", spec.Stdout}, {"stderr", spec.Stderr}} {
		if out.spec.Mode != config.OutputFile {
			continue
		}
		f, err := s.fileOutput(spec, out.spec)
		if err != nil {
			return fmt.Errorf("%s file %s: %w", out.name, out.spec.File, err)
		}
		if err := f.w.ready(); err != nil {
			return fmt.Errorf("%s file: %w", out.name, err)
		}
	}
	return nil
}

// close writes what is queued and closes the file, unless the writer is
// stuck in a write (see lineQueue.close); its mill stops either way.
func (f *fileOutput) close() {
	if f.q.close() {
		f.w.close()
		return
	}
	f.w.stopMill()
}
