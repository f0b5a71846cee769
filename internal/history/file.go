//go:build linux

package history

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/safefs"
)

// policy is whom the history's directories and files may belong to: root
// alone for resreap, which runs as root (see safefs.Self).
func policy() safefs.Policy { return safefs.Self() }

// The owners and modes of what the Writer creates: the history names
// commands and peers that not every local user should read.
var (
	dirPerm  = safefs.Perm{Mode: 0o750}
	filePerm = safefs.Perm{Mode: 0o640}
)

// open opens the live file, creating it and the directories missing above
// it, through safefs: no link is followed to it, and a file that is not
// root's regular file with one link (a hard link to a root file planted in
// a directory others may write) is refused.
func (w *Writer) open() error {
	d, err := safefs.MkdirAll(filepath.Dir(w.path), dirPerm, policy())
	if err != nil {
		return err
	}
	defer d.Close()
	return w.openIn(d)
}

// openIn opens the live file in d, its directory, and learns its size and
// whether it ends in a newline. A file left without one by a crash
// mid-write would otherwise glue its torn tail to the next record and
// lose both. The open never blocks: a FIFO is refused at once, whether or
// not it has a reader.
func (w *Writer) openIn(d *safefs.Dir) error {
	name := filepath.Base(w.path)
	f, err := d.OpenAppend(name, filePerm)
	if err != nil {
		return refused(d, name, w.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.st, w.size, w.torn = f, st, st.Size(), false
	if st.Size() > 0 {
		w.torn = !endsInNewline(d, name, st, st.Size())
	}
	return nil
}

// ErrNotRegular is wrapped by the error for a history path that is a FIFO,
// a device or a socket: a history must be a regular file. (A directory
// gives EISDIR, as open(2) does.)
var ErrNotRegular = errors.New("not a regular file")

// refused turns safefs's refusal of name in d, the history file at path,
// into the history's own errors when what is there is not a regular file:
// ErrNotRegular for a FIFO, device or socket, EISDIR for a directory. A
// link, or a file with the wrong owner or several links, stays safefs's
// refusal (safefs.ErrUnsafe).
func refused(d *safefs.Dir, name, path string, err error) error {
	if !errors.Is(err, safefs.ErrUnsafe) {
		return err
	}
	st, serr := d.Lstat(name)
	if serr != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFLNK:
		return err
	case unix.S_IFDIR:
		return &fs.PathError{Op: "open", Path: path, Err: unix.EISDIR}
	}
	return notRegular(path, st.Mode)
}

// notRegular is the error for a path of the given mode (st_mode) that is
// not a regular file; it names what the path is instead.
func notRegular(path string, mode uint32) error {
	kind := "a special file"
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		kind = "a FIFO"
	case unix.S_IFSOCK:
		kind = "a socket"
	case unix.S_IFCHR:
		kind = "a character device"
	case unix.S_IFBLK:
		kind = "a block device"
	}
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind)}
}

// current makes w.f the file now at w.path, opening it if needed. A file
// deleted or replaced under the Writer (logrotate's create mode, an
// operator's rm) would otherwise take every later record into an inode no
// reader will ever find, each reported as written; so before each write the
// name is looked up in its directory, opened afresh through safefs (lstat:
// a link put in its place is a replacement, never followed), compared with
// the open file (device and inode), and reopened, which creates it, when
// it is gone or another file. The size is taken afresh too: a file
// truncated in place (logrotate's copytruncate) or appended to by another
// process would otherwise rotate too early or late.
//
// The check cannot close the window between it and the write: a file
// replaced in between takes that one write. What it guarantees is that a
// replacement costs at most the records of the write in progress.
func (w *Writer) current() error {
	if w.f == nil {
		return w.open()
	}
	d, err := safefs.OpenDir(filepath.Dir(w.path), policy())
	if err != nil {
		// Gone (made again by open) or no longer safe (open says why).
		w.fail()
		return w.open()
	}
	defer d.Close()
	name := filepath.Base(w.path)
	st, err := d.Lstat(name)
	if err != nil || !sameFile(&st, w.st) {
		w.fail()
		return w.openIn(d)
	}
	if st.Size != w.size {
		w.size = st.Size
		w.torn = w.size > 0 && !endsInNewline(d, name, w.st, w.size)
	}
	return nil
}

// sameFile reports whether st (an lstat) is the file fi describes.
func sameFile(st *unix.Stat_t, fi os.FileInfo) bool {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	return ok && sys.Dev == st.Dev && sys.Ino == st.Ino
}

// endsInNewline reports whether the file name in d, which must still be
// the file id, has '\n' as its last byte (at size-1). When that cannot be
// read it answers false: an extra newline only makes a blank line, which
// readers skip, while a missing one costs a record.
func endsInNewline(d *safefs.Dir, name string, id os.FileInfo, size int64) bool {
	f, err := d.OpenRead(name)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !os.SameFile(st, id) {
		return false
	}
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
// once: os errors and safefs refusals about the file itself already carry
// its path.
func pathError(op, path string, err error) error {
	var pe *fs.PathError
	var ue *safefs.UnsafeError
	if errors.As(err, &pe) && pe.Path == path || errors.As(err, &ue) && ue.Path == path {
		return fmt.Errorf("history: %w", err)
	}
	return fmt.Errorf("history: %s %s: %w", op, path, err)
}
