//go:build linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// rereadEvery bounds how long a missed inotify event can delay a wait.
const rereadEvery = time.Second

// pollEvery is how often a wait re-reads cgroup.events when it cannot
// watch the file: inotify_init1 fails with EMFILE once the user's
// instances (fs.inotify.max_user_instances, 128 by default) are taken by
// other programs, as on a busy host. 50 ms keeps a stop's waits close to
// their events for one small read each.
const pollEvery = 50 * time.Millisecond

// errGone reports that the cgroup was removed during a wait.
var errGone = errors.New("cgroup removed")

// WaitEmpty returns nil once the cgroup and its descendants hold no live
// process ("populated 0" in cgroup.events; zombies do not count, so the
// direct child may still be waiting to be reaped), or once the cgroup is
// removed during the wait; it returns ctx.Err() when ctx is done first,
// and an error wrapping fs.ErrNotExist for a cgroup missing at the start.
// It sleeps on an inotify watch of cgroup.events, which the kernel
// modifies at every change of state, and re-reads the file every second in
// case an event is lost. It starts no goroutine that outlives the call and
// closes every descriptor it opened before returning.
//
// It fails closed: when the file cannot be watched it re-reads it every
// 50 ms instead, and when a read fails it keeps trying until ctx is done,
// recording either in the Faults of ctx (see WithFaults). So it never
// returns early for want of a helper: nil always means empty.
func (g Group) WaitEmpty(ctx context.Context) error {
	// Read once before any watch: a stop waits here once the main process
	// is reaped, when the cgroup is most often empty already, and an
	// inotify instance, its watch and its place in the runtime's poller
	// cost more than the read.
	if ev, err := g.events(); err == nil && ev["populated"] == 0 {
		return nil
	}
	err := g.waitEvents(ctx, func(ev map[string]uint64) bool { return ev["populated"] == 0 })
	if errors.Is(err, errGone) {
		return nil
	}
	return err
}

// waitEvents returns nil once cond holds for cgroup.events, errGone when
// the cgroup disappears, an error wrapping fs.ErrNotExist when it is
// missing at the start, or ctx.Err(). The watch is set up before the
// first read, so a change between the read and the sleep still wakes it.
// Without a watch it polls (see pollEvents).
func (g Group) waitEvents(ctx context.Context, cond func(map[string]uint64) bool) error {
	if err := g.valid(); err != nil {
		return err
	}
	f, err := watchModify(g.file("cgroup.events"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("watch cgroup events: %w", err)
	}
	if err != nil {
		note(ctx, HelperWatch, err)
		return g.pollEvents(ctx, cond, true)
	}
	// Wake a blocked Read when ctx is done. The callback runs on its own
	// goroutine; wait for it before closing f so none outlives the call.
	ran := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(ran)
		_ = f.SetReadDeadline(time.Unix(1, 0))
	})
	defer func() {
		if !stop() {
			<-ran
		}
		f.Close()
	}()
	buf := make([]byte, 4096)
	for {
		ev, err := g.events()
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV) {
			return errGone
		}
		if err != nil {
			note(ctx, HelperEvents, err)
			return g.pollEvents(ctx, cond, false)
		}
		if cond(ev) {
			return nil
		}
		if err := f.SetReadDeadline(time.Now().Add(rereadEvery)); err != nil {
			note(ctx, HelperWatch, err)
			return g.pollEvents(ctx, cond, false)
		}
		// Checked after setting the deadline: a cancel that came before
		// it is seen here, one that comes after it moves the deadline.
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := f.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			note(ctx, HelperWatch, err)
			return g.pollEvents(ctx, cond, false)
		}
	}
}

// pollEvents is waitEvents without a watch: it reads cgroup.events every
// pollEvery. A read that fails is recorded and tried again, as the file
// may come back (ENOMEM, EMFILE); only ctx ends the wait then. With start,
// a cgroup missing at the first read is reported as missing, not gone.
func (g Group) pollEvents(ctx context.Context, cond func(map[string]uint64) bool, start bool) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for first := start; ; first = false {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		ev, err := g.events()
		switch {
		case first && errors.Is(err, fs.ErrNotExist):
			return err
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV):
			return errGone
		case err != nil:
			note(ctx, HelperEvents, err)
		case cond(ev):
			return nil
		}
		timer.Reset(pollEvery)
	}
}

// watchModify returns a non-blocking inotify descriptor watching path for
// IN_MODIFY, as an *os.File so that reads park in the runtime's poller and
// honour deadlines instead of holding a thread.
func watchModify(path string) (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "inotify_add_watch", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), "inotify:"+path), nil
}
