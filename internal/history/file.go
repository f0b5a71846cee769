//go:build linux

package history

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// open opens the live file and learns its size and whether it ends in a
// newline. A file left without one by a crash mid-write would otherwise
// glue its torn tail to the next record and lose both.
func (w *Writer) open() error {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size, w.torn = f, st.Size(), false
	if st.Mode().IsRegular() && st.Size() > 0 {
		w.torn = !endsInNewline(w.path, st.Size())
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

// write appends the lines of recs in one write(2), then fsyncs. On failure
// it closes the descriptor so the next write reopens the path (the file may
// have been replaced, or the disk freed).
func (w *Writer) write(recs []*pending) error {
	var buf []byte
	if len(recs) == 1 && !w.torn {
		buf = recs[0].line
	} else {
		if w.torn {
			buf = append(buf, '\n')
		}
		for _, p := range recs {
			buf = append(buf, p.line...)
		}
	}
	n, err := writeOnce(w.f, buf)
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
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
	w.f = nil
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
