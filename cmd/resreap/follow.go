//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// follower prints what is written to the file at path, across rotations
// and truncations, the way `tail -F` does.
//
// A rotation (lumberjack, logrotate's default: the file renamed, a new one
// created) is seen as path naming another inode than the one held. The
// held file is then read to its end before the new one is opened and read
// from offset 0, so no line written before the switch is lost, on either
// side of it. Path is stat'ed before the held file is read, so that read
// covers everything the writer put there before the new file existed.
// What a writer still appends to the old file after the switch is not
// shown (logrotate's create mode without a postrotate signal), nor is a
// file that was created and rotated away again between two looks.
//
// A truncation (logrotate's copytruncate) is seen as the held file being
// shorter than what was printed: it is read again from its start. When the
// writer has written past the old length before the follower looks, the
// truncation cannot be told from growth; the waker's events make that
// window short.
type follower struct {
	path   string
	out    io.Writer
	notes  io.Writer // where a rotation or truncation is said, one line each
	f      *os.File  // the file being read; nil while path does not exist
	off    int64     // how much of f has been printed
	inLine bool      // the last byte printed did not end a line
	buf    []byte
}

// followBuffer is how much a follower reads at once.
const followBuffer = 64 << 10

// newFollower follows path from offset off of f, its file as it was when
// the last lines were printed; f is nil when path does not exist yet, and
// is then read from its start once it does.
func newFollower(path string, f *os.File, off int64, out, notes io.Writer) *follower {
	return &follower{path: path, out: out, notes: notes, f: f, off: off, buf: make([]byte, followBuffer)}
}

// run prints until ctx is done (nil) or reading or printing fails. The
// waker is made before the first look: a write after that look is an
// event, so none is missed between a look and the wait.
func (fl *follower) run(ctx context.Context, w *waker) error {
	defer fl.close()
	for {
		if err := fl.catchUp(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := w.wait(ctx); err != nil {
			return nil // ctx is done
		}
	}
}

// catchUp prints everything written since the last look, switching to
// the file path names now when it was rotated.
func (fl *follower) catchUp(ctx context.Context) error {
	named, err := os.Stat(fl.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if fl.f == nil {
		if named == nil {
			return nil // not created yet
		}
		return fl.open(ctx)
	}
	if err := fl.drain(ctx); err != nil {
		return err
	}
	if named == nil {
		return nil // renamed, its successor not created yet: the writer may still write here
	}
	held, err := fl.f.Stat()
	if err != nil {
		return err
	}
	if os.SameFile(named, held) {
		return nil
	}
	fl.close()
	fmt.Fprintf(fl.notes, "resreap logs: %s was replaced (rotated); following the new file\n", fl.path)
	return fl.open(ctx)
}

// open opens path and prints it from its start.
func (fl *follower) open(ctx context.Context) error {
	f, err := openLog(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // gone again: the next look opens its successor
	}
	if err != nil {
		return err
	}
	fl.f, fl.off = f, 0
	return fl.drain(ctx)
}

// drain prints fl.f from fl.off to its end, from its start when it has
// become shorter than fl.off.
func (fl *follower) drain(ctx context.Context) error {
	st, err := fl.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < fl.off {
		fl.endLine()
		fmt.Fprintf(fl.notes, "resreap logs: %s was truncated; following it from its start\n", fl.path)
		fl.off = 0
	}
	for ctx.Err() == nil {
		n, err := fl.f.ReadAt(fl.buf, fl.off)
		if n > 0 {
			if _, werr := fl.out.Write(fl.buf[:n]); werr != nil {
				return werr
			}
			fl.off += int64(n)
			fl.inLine = fl.buf[n-1] != '\n'
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// openLog opens the output file at path for reading. The open does not
// block (a FIFO in its place would hold it until a writer came, and ^C
// could not end it) and anything but a regular file is refused: only a
// regular file has lines to show again and an offset to follow from.
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (type %s)", path, st.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// close closes the file being read, ending a line it left unfinished: that
// line will not be continued in what is printed next.
func (fl *follower) close() {
	if fl.f == nil {
		return
	}
	fl.endLine()
	fl.f.Close()
	fl.f = nil
}

func (fl *follower) endLine() {
	if fl.inLine {
		fl.out.Write([]byte{'\n'}) //nolint:errcheck // the next write says
		fl.inLine = false
	}
}
