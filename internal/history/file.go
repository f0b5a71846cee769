//go:build linux

package history

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// open opens the live file and learns its size and whether it ends in a
// newline. A file left without one by a crash mid-write would otherwise
// glue its torn tail to the next record and lose both.
func (w *Writer) open() error {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o750); err != nil {
		return err
	}
	f, st, err := openRegular(w.path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT, 0o640)
	if err != nil {
		return err
	}
	w.f, w.st, w.size, w.torn = f, st, st.Size(), false
	if st.Size() > 0 {
		w.torn = !endsInNewline(w.path, st.Size())
	}
	return nil
}

// openRegular opens path with flags and refuses anything but a regular
// file. The open itself is non-blocking: opening a FIFO for writing blocks
// until a reader comes (and for reading until a writer does), which would
// hang whoever opens the history, the supervisor included. A FIFO without
// a reader fails that open with ENXIO, one with a reader opens and is then
// refused by type; either way the call returns at once. The descriptor is
// made blocking again before it is used: O_NONBLOCK means nothing to a
// regular file, but it should not be left set for one.
func openRegular(path string, flags int, perm uint32) (*os.File, os.FileInfo, error) {
	fd, err := unix.Open(path, flags|unix.O_NONBLOCK|unix.O_CLOEXEC, perm)
	if errors.Is(err, unix.ENXIO) {
		// A FIFO (or a socket, or a device without its driver): say what
		// the path is rather than "no such device or address".
		if st, serr := os.Stat(path); serr == nil && !st.Mode().IsRegular() {
			return nil, nil, notRegular(path, st.Mode())
		}
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	st, err := f.Stat()
	switch {
	case err != nil:
	case st.IsDir():
		// What open(2) for writing says; a read open gets this far.
		err = &fs.PathError{Op: "open", Path: path, Err: unix.EISDIR}
	case !st.Mode().IsRegular():
		err = notRegular(path, st.Mode())
	}
	if err == nil {
		err = unix.SetNonblock(fd, false)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// ErrNotRegular is wrapped by the error for a history path that is a FIFO,
// a device or a socket: a history must be a regular file. (A directory
// gives EISDIR, as open(2) does.)
var ErrNotRegular = errors.New("not a regular file")

// notRegular is the error for a path of the given mode that is not a
// regular file; it names what the path is instead.
func notRegular(path string, mode fs.FileMode) error {
	kind := mode.Type().String()
	switch t := mode.Type(); {
	case t&fs.ModeNamedPipe != 0:
		kind = "a FIFO"
	case t&fs.ModeSocket != 0:
		kind = "a socket"
	case t&fs.ModeCharDevice != 0:
		kind = "a character device"
	case t&fs.ModeDevice != 0:
		kind = "a block device"
	}
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind)}
}

// current makes w.f the file now at w.path, opening it if needed. A file
// deleted or replaced under the Writer (logrotate's create mode, an
// operator's rm) would otherwise take every later record into an inode no
// reader will ever find, each reported as written; so before each write the
// path is compared with the open file (device and inode), and reopened,
// which creates it, when it is gone or another file. The size is taken
// afresh too: a file truncated in place (logrotate's copytruncate) or
// appended to by another process would otherwise rotate too early or late.
//
// The check cannot close the window between it and the write: a file
// replaced in between takes that one write. What it guarantees is that a
// replacement costs at most the records of the write in progress.
func (w *Writer) current() error {
	if w.f == nil {
		return w.open()
	}
	st, err := os.Stat(w.path)
	if err != nil || !os.SameFile(st, w.st) {
		w.fail()
		return w.open()
	}
	if st.Size() != w.size {
		w.size = st.Size()
		w.torn = w.size > 0 && !endsInNewline(w.path, w.size)
	}
	return nil
}

// endsInNewline reports whether the file's last byte is '\n'. When that
// cannot be read it answers false: an extra newline only makes a blank line,
// which readers skip, while a missing one costs a record.
func endsInNewline(path string, size int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], size-1); err != nil && err != io.EOF {
		return false
	}
	return b[0] == '\n'
}

// write appends lines in one write(2), then fsyncs. On failure it closes
// the descriptor so the next write reopens the path (the file may have
// been replaced, or the disk freed).
func (w *Writer) write(lines [][]byte) error {
	var buf []byte
	if len(lines) == 1 && !w.torn {
		buf = lines[0]
	} else {
		if w.torn {
			buf = append(buf, '\n')
		}
		for _, l := range lines {
			buf = append(buf, l...)
		}
	}
	n, err := writeOnce(w.f, buf)
	if err == nil && n < len(buf) {
		err = shortWriteCause(w.f, len(buf)-n)
	}
	if err != nil {
		if n > 0 {
			w.dropPartial(n)
		}
		w.fail()
		return fmt.Errorf("write: %w", err)
	}
	w.size += int64(n)
	w.torn = false
	if err := w.f.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages
		// and a retry could report success for data that is gone; start
		// over with a fresh descriptor instead.
		w.fail()
		return err
	}
	return nil
}

// dropPartial undoes a short write of n bytes, so the next record starts on
// a clean line. If the file cannot be cut back, the next write starts with a
// newline: the fragment becomes one skipped line instead of spoiling the
// next record too.
func (w *Writer) dropPartial(n int) {
	if err := w.f.Truncate(w.size); err != nil {
		w.size += int64(n)
		w.torn = true
	}
}

// fail closes the descriptor after an error.
func (w *Writer) fail() {
	w.f.Close()
	w.f, w.st = nil, nil
}

// pathError wraps err so that its message names the history file exactly
// once: os errors about the file itself already carry its path.
func pathError(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return fmt.Errorf("history: %w", err)
	}
	return fmt.Errorf("history: %s %s: %w", op, path, err)
}
