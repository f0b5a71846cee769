//go:build linux

package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/proc"
)

// Errors of OpenProcess and (*Process).Signal, besides proc.ErrGone
// (the judged process has exited).
var (
	// ErrPIDReused means the PID now belongs to a process with another start
	// time than the judged one: signalling it would hit a bystander.
	ErrPIDReused = errors.New("pid reused: start time differs from the judged process")
)

// Process is a process judged by the watch and pinned for signalling. It
// is not resreap's child, so nothing stops its PID from being recycled
// once it exits; Process guards against that twice:
//
//   - a pidfd, opened when the process is judged and validated by reading
//     the start time after opening it, refers to that process forever: a
//     signal sent through it fails with ESRCH instead of reaching a
//     newcomer, and its readability tells that the process has exited;
//   - before every signal the start time in /proc/<pid>/stat is compared
//     with the judged one. This is what protects a kernel without pidfd
//     (before 5.3), where signals fall back to kill(2) and a narrow race
//     remains.
//
// A Process is used by one goroutine at a time.
type Process struct {
	PID   int
	Start uint64 // the judged start time, clock ticks since boot

	files *procFiles
	fd    int // pidfd; -1 when the kernel has none
}

// OpenProcess pins the process pid that started at start (field 22 of
// /proc/<pid>/stat). It fails with proc.ErrGone if no such process exists and
// ErrPIDReused if pid now names a process with another start time. Close
// the Process when done.
func OpenProcess(pid int, start uint64) (*Process, error) {
	return openProcess("/proc", pid, start)
}

func openProcess(procRoot string, pid int, start uint64) (*Process, error) {
	fd, err := pidfdOpen(pid)
	switch {
	case errors.Is(err, syscall.ESRCH):
		return nil, fmt.Errorf("pid %d: %w", pid, proc.ErrGone)
	case errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EPERM):
		fd = -1 // no pidfd (old kernel, seccomp): start time checks only
	case err != nil:
		return nil, fmt.Errorf("pid %d: pidfd_open: %w", pid, err)
	}
	p := &Process{PID: pid, Start: start, files: newProcFiles(procRoot, 512), fd: fd}
	// The start time is read after the pidfd is open: if it still matches,
	// the process holding pid now is the judged one, and since a PID is
	// held by one process from its start to its reaping, so was the one
	// the pidfd was opened on.
	if err := p.Verify(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Verify checks that pid still names the judged process: proc.ErrGone if it
// exited (or is a zombie), ErrPIDReused if another process now has pid.
func (p *Process) Verify() error {
	st, err := p.files.stat(p.PID)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ESRCH):
		return fmt.Errorf("pid %d: %w", p.PID, proc.ErrGone)
	case err != nil:
		return fmt.Errorf("pid %d: %w", p.PID, err)
	case st.Start != p.Start:
		return fmt.Errorf("pid %d: %w (judged %d, now %d)", p.PID, ErrPIDReused, p.Start, st.Start)
	case st.State == 'Z' || st.State == 'X':
		return fmt.Errorf("pid %d: %w", p.PID, proc.ErrGone)
	}
	return nil
}

// Signal verifies the process and sends it sig through the pidfd.
func (p *Process) Signal(sig unix.Signal) error {
	if err := p.Verify(); err != nil {
		return err
	}
	var err error
	if p.fd >= 0 {
		err = pidfdSignal(p.fd, sig)
	} else {
		err = unix.Kill(p.PID, sig)
	}
	if errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("pid %d: %w", p.PID, proc.ErrGone)
	}
	if err != nil {
		return fmt.Errorf("pid %d: signal %d: %w", p.PID, sig, err)
	}
	return nil
}

// Exited reports whether the process has exited (it may not be reaped
// yet: it is not ours to reap).
func (p *Process) Exited() bool {
	return p.Wait(context.Background(), 0)
}

// pollSlice bounds one blocking wait so that a cancelled context is
// noticed; the pidfd itself wakes the wait as soon as the process exits.
const pollSlice = 100 * time.Millisecond

// Wait waits up to d for the process to exit and reports whether it did.
// It returns false early when ctx is done. With Signal, it makes a Process
// a proc.Target, so the escalation the supervisor uses (proc.Escalate)
// stops it.
func (p *Process) Wait(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		left := min(time.Until(deadline), pollSlice)
		if p.fd >= 0 {
			if pidfdExited(p.fd, max(left, 0)) {
				return true
			}
		} else if p.Verify() != nil {
			return true
		} else if left > 0 {
			sleepCtx(ctx, min(left, 20*time.Millisecond)) // no pidfd: nothing to block on
		}
		if time.Until(deadline) <= 0 || ctx.Err() != nil {
			return false
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Close releases the pidfd.
func (p *Process) Close() error {
	if p.fd < 0 {
		return nil
	}
	fd := p.fd
	p.fd = -1
	return unix.Close(fd)
}
