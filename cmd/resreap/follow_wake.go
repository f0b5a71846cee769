//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// followPoll is how long a follower waits without an event before it
// looks at its file anyway: the whole wait when inotify is unavailable
// (the per-user instance limit used up, a filesystem without events such
// as NFS), and the bound on an event that never comes (a write through a
// hard link in another directory, the directory itself renamed).
const followPoll = time.Second

// wakeMask is what the directory's watch reports: a write or truncation
// of a file in it, and the names that come and go in a rotation.
const wakeMask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO

// waker wakes a follower when the directory of its file reports an event
// for the file's name. It watches the directory, not the file: a watch on
// the file would stay with the renamed inode and say nothing of the new
// one. Events queue in the inotify instance from the moment it is made,
// so one that comes while the follower reads is waiting when it next
// waits: the wake-up cannot be lost between reading to the end and
// waiting, as it is when a watch is added only after that read.
type waker struct {
	f    *os.File // the inotify instance, pollable; nil: wait followPoll
	name string   // the base name whose events count
	buf  []byte
}

// newWaker watches the directory of path. When it cannot, the waker
// waits followPoll each time and err says why.
func newWaker(path string) (w *waker, err error) {
	w = &waker{name: filepath.Base(path)}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return w, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), wakeMask); err != nil {
		unix.Close(fd)
		return w, fmt.Errorf("inotify watch on %s: %w", filepath.Dir(path), err)
	}
	// A non-blocking descriptor makes a pollable File, whose reads take
	// a deadline.
	w.f = os.NewFile(uintptr(fd), "inotify")
	w.buf = make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	return w, nil
}

// wait returns nil on an event for the name or after followPoll, and
// ctx's error once it is done.
func (w *waker) wait(ctx context.Context) error {
	if w.f != nil && w.f.SetReadDeadline(time.Now().Add(followPoll)) != nil {
		w.close() // not pollable after all: poll the file instead
	}
	if w.f == nil {
		t := time.NewTimer(followPoll)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	// Registered after the deadline is set, so a cancellation always
	// comes after it and ends the read at once.
	f := w.f
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) }) //nolint:errcheck // pollable: set above
	defer stop()
	for {
		n, err := f.Read(w.buf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return ctx.Err() // nil: followPoll passed
		case err != nil:
			w.close() // the instance broke: poll from now on
			return ctx.Err()
		case concernsName(w.buf[:n], w.name):
			return nil
		}
	}
}

func (w *waker) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// concernsName reports whether the inotify events in b include one for
// name, or one that may have hidden it: a queue overflow, an event of the
// directory itself (no name), a record cut short.
func concernsName(b []byte, name string) bool {
	for len(b) > 0 {
		if len(b) < unix.SizeofInotifyEvent {
			return true
		}
		mask := binary.NativeEndian.Uint32(b[4:8])
		size := int(binary.NativeEndian.Uint32(b[12:16]))
		end := unix.SizeofInotifyEvent + size
		if mask&unix.IN_Q_OVERFLOW != 0 || size == 0 || end > len(b) {
			return true
		}
		if string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00")) == name {
			return true
		}
		b = b[end:]
	}
	return false
}
