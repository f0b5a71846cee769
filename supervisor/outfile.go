//go:build linux

package supervisor

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/safefs"
)

// outFile is a child's output file, rotated by size: the writer behind a
// file output's lineQueue. resreap writes it as root in a directory the
// child's user may own, so it never touches the file by a path: its
// directory is opened once by safefs (every directory on the way checked,
// no link followed that another user could have made), the live file is
// appended to through that directory with O_NOFOLLOW and checked after
// the open (a link planted in its place, or a hard link to a root file,
// is refused), a rotation renames it within the directory and creates the
// next one with O_EXCL, and compression and pruning (see mill.go) work
// by name within the directory, never through a link.
//
// Rotated files keep the names lumberjack, which wrote these files
// before, gave them: app.log becomes app-2006-01-02T15-04-05.000.log (UTC
// time of the rotation), gzipped app-2006-01-02T15-04-05.000.log.gz, so
// the files of an older resreap are counted, compressed and pruned too. A
// rotated name is final; compression only adds .gz. (logrotate's .1 to .N
// would rename every file at each rotation, under a compressor still
// working on one of them.) The live file keeps its path: `resreap logs
// -f` follows it across a rotation.
type outFile struct {
	path string // as configured: the live file
	set  outSettings
	log  zerolog.Logger
	now  func() time.Time

	mu     sync.Mutex  // guards dir, f, size and opened; held across a write
	dir    *safefs.Dir // the live file's directory, once opened
	f      *os.File    // the live file; nil when not open
	size   int64       // bytes in f
	opened bool        // f was opened once: the mill has been woken
	open   atomic.Bool // f != nil, for ready, which must not wait on a write

	wake   chan struct{} // buffered 1: a rotation happened, or the first open
	stop   chan struct{} // closed by close: the mill stops
	milled chan struct{} // closed when the mill has returned
}

// outSettings say how an output file is opened and rotated: who may own
// its directory and the file (the child's user besides root), what
// resreap creates (owner, group, mode), and the rotation.
type outSettings struct {
	pol      safefs.Policy
	perm     safefs.Perm
	maxSize  int64 // rotate before a write would pass it
	keep     int   // rotated files kept
	compress bool  // gzip rotated files
}

// dirPerm is what resreap creates of an output file's missing
// directories: root's, 0755, as lumberjack made them.
var dirPerm = safefs.Perm{Mode: 0o755}

// newOutFile returns the writer of the file at path; nothing is opened
// until ready or the first Write. Its mill runs until close.
func newOutFile(path string, set outSettings, log zerolog.Logger) *outFile {
	w := &outFile{path: path, set: set, log: log, now: time.Now,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), milled: make(chan struct{})}
	go w.mill()
	return w
}

// ready opens the file if it is not open, or if the live name no longer
// is the file open (removed, or replaced: by an operator, or by a link
// its directory's owner planted), and says why it cannot be: a start
// checks it before the program runs. A write under way means the file is
// open, or its failure is being reported: ready does not wait for it (the
// disk may be stuck).
func (w *outFile) ready() error {
	if !w.mu.TryLock() {
		return nil
	}
	defer w.mu.Unlock()
	if w.f != nil && w.stillLive() {
		return nil
	}
	if w.f != nil {
		w.f.Close() //nolint:errcheck // appends only: nothing is buffered
		w.f = nil
		w.open.Store(false)
	}
	return w.openLocked()
}

// stillLive reports whether the live name in the directory is the file
// open, as an lstat and an fstat say.
func (w *outFile) stillLive() bool {
	name, err := w.dir.Lstat(filepath.Base(w.path))
	if err != nil {
		return false
	}
	var open unix.Stat_t
	if err := unix.Fstat(int(w.f.Fd()), &open); err != nil {
		return false
	}
	return name.Dev == open.Dev && name.Ino == open.Ino
}

// openLocked opens the directory (the first time) and the live file.
func (w *outFile) openLocked() error {
	if w.dir == nil {
		d, err := safefs.MkdirAll(filepath.Dir(w.path), dirPerm, w.set.pol)
		if err != nil {
			return err
		}
		w.dir = d
	}
	f, err := w.dir.OpenAppend(filepath.Base(w.path), w.set.perm)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	w.open.Store(true)
	if !w.opened {
		w.opened = true
		w.kick() // rotated files an earlier run left uncompressed or beyond keep
	}
	return nil
}

// Write appends p, a batch of whole lines, to the live file, rotating it
// first when p would take it past the size limit (a rotation falls
// between lines). When the file cannot be opened, p is lost: the
// lineQueue counts its lines and logs why, and the next Write tries again.
func (w *outFile) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil && w.size > 0 && w.size+int64(len(p)) > w.set.maxSize {
		w.rotateLocked()
	}
	if w.f == nil {
		if err := w.openLocked(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

// rotateLocked renames the live file to its rotated name and closes it;
// the next open creates a new one. When the rename fails the file stays
// live and grows, and rotation is tried again one size limit later: no
// line is lost for want of a rotation.
func (w *outFile) rotateLocked() {
	base := filepath.Base(w.path)
	name, err := w.rotatedName(base)
	if err == nil {
		err = w.dir.Rename(base, name)
	}
	if err != nil {
		w.log.Error().Err(err).Str("file", w.path).Msg("output file not rotated; writing on to it")
		w.size = 0
		return
	}
	w.f.Close() //nolint:errcheck // appends only: nothing is buffered
	w.f = nil
	w.open.Store(false)
	w.kick()
}

// rotatedName returns a free rotated name for base at the current time
// (the next millisecond when two rotations fall within one).
func (w *outFile) rotatedName(base string) (string, error) {
	t := w.now().UTC()
	for range 1000 {
		name := rotatedName(base, t)
		_, err := w.dir.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
		t = t.Add(time.Millisecond)
	}
	return "", &fs.PathError{Op: "rotate", Path: w.path, Err: fs.ErrExist}
}

// kick wakes the mill without waiting.
func (w *outFile) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stopMill stops the mill, which abandons a compression under way (the
// next run finishes it), and waits for it.
func (w *outFile) stopMill() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.milled
}

// close stops the mill and closes the file and its directory. The caller
// makes sure no Write is under way.
func (w *outFile) close() {
	w.stopMill()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close() //nolint:errcheck // appends only: nothing is buffered
		w.f = nil
		w.open.Store(false)
	}
	w.dir.Close() //nolint:errcheck // a directory: nothing to flush
	w.dir = nil
}
