//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/signame"
)

// process is one started process: the main process of a child, or a hook.
// It leads its own process group (its PID is the group ID).
type process struct {
	pid     int
	started time.Time
	exit    chan ExitStatus // buffered 1; the Reaper sends the exit once
	outputs []*os.File      // read ends of the stdout/stderr pipes
	leaf    cgroup.Group    // the cgroup it was started in; zero: none

	// mu is held by the Reaper across the reap and by signal across
	// kill(2): a signal is only ever sent while the process is unreaped,
	// when its PID and group ID are provably still its own.
	mu     sync.Mutex
	reaped bool
}

// signal sends sig to the process and to its process group: the process
// itself too, because it may have left its group (setpgid into another)
// and would then escape a group signal. It fails with ErrGone once the
// process has been reaped, having sent nothing.
func (p *process) signal(sig unix.Signal) error { return p.kill(sig, true) }

// signalMain sends sig to the process alone, not to its group or cgroup
// (a server whose workers must not get HUP). It fails with ErrGone once
// the process has been reaped.
func (p *process) signalMain(sig unix.Signal) error { return p.kill(sig, false) }

// kill sends sig to the process, and with group to its process group, only
// while it is unreaped.
func (p *process) kill(sig unix.Signal, group bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return fmt.Errorf("pid %d: %w", p.pid, ErrGone)
	}
	// An unreaped process (a zombie included) accepts the signal, so an
	// error here is EPERM, not a process that went away.
	if err := unix.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("pid %d: signal %s: %w", p.pid, signame.Name(sig), err)
	}
	if group {
		unix.Kill(-p.pid, sig) //nolint:errcheck // ESRCH: the process left its group, which is then empty
	}
	return nil
}

// send delivers an operator's signal: to the main process only with
// mainOnly, else to every process of the cgroup, or without a cgroup to
// the process and its group.
func (p *process) send(sig unix.Signal, mainOnly bool) error {
	switch {
	case mainOnly:
		return p.signalMain(sig)
	case p.leaf != (cgroup.Group{}):
		return signalLeaf(p.leaf, sig)
	}
	return p.signal(sig)
}

// signalLeaf delivers sig to every process of the cgroup leaf: SIGKILL
// through cgroup.kill, or before Linux 5.14 to each process in turn. It
// reports ErrGone when the cgroup has no process left (or is gone).
func signalLeaf(leaf cgroup.Group, sig unix.Signal) error {
	var err error
	n := 1
	if sig == unix.SIGKILL {
		err = leaf.Kill()
	}
	if sig != unix.SIGKILL || errors.Is(err, errors.ErrUnsupported) {
		n, err = leaf.Signal(context.Background(), sig)
	}
	if err == nil && n == 0 || errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cgroup %s: %w", leaf.Path(), ErrGone)
	}
	return err
}

// groupTarget is a supervised process as an escalation Target: signals go
// to the process and its group, the exit comes from the Reaper.
type groupTarget struct {
	p    *process
	exit ExitStatus // valid when exited
	done bool
}

func (t *groupTarget) Signal(sig unix.Signal) error {
	if t.done {
		return fmt.Errorf("pid %d: %w", t.p.pid, ErrGone)
	}
	return t.p.signal(sig)
}

func (t *groupTarget) Wait(ctx context.Context, d time.Duration) bool {
	if t.done {
		return true
	}
	if d <= 0 {
		select {
		case t.exit = <-t.p.exit:
			t.done = true
		default:
		}
		return t.done
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case t.exit = <-t.p.exit:
		t.done = true
	case <-timer.C:
	case <-ctx.Done():
	}
	return t.done
}

// cgroupTarget is a supervised process and its whole cgroup as an
// escalation Target: a signal reaches every process of the cgroup (a
// setsid grandchild, a double-forked daemon), SIGKILL is cgroup.kill, and
// the target has exited once the process is reaped and the cgroup empty.
type cgroupTarget struct {
	groupTarget
	leaf cgroup.Group
}

func (t *cgroupTarget) Signal(sig unix.Signal) error {
	err := signalLeaf(t.leaf, sig)
	if errors.Is(err, ErrGone) && !t.groupTarget.Wait(context.Background(), 0) {
		return nil // the cgroup is empty, the main process not reaped yet
	}
	return err
}

func (t *cgroupTarget) Wait(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	if !t.groupTarget.Wait(ctx, d) {
		return false
	}
	return emptyBy(ctx, t.leaf, deadline)
}

// emptyBy reports whether leaf is empty, waiting for it until deadline.
// A cgroup that is gone is empty.
func emptyBy(ctx context.Context, leaf cgroup.Group, deadline time.Time) bool {
	if time.Until(deadline) <= 0 {
		populated, err := leaf.Populated()
		return err != nil || !populated
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return leaf.WaitEmpty(ctx) == nil
}

// target returns p as an escalation Target: its cgroup when it has one,
// else its process group.
func (p *process) target() interface {
	Target
	exited() (ExitStatus, bool)
} {
	if p.leaf != (cgroup.Group{}) {
		return &cgroupTarget{groupTarget: groupTarget{p: p}, leaf: p.leaf}
	}
	return &groupTarget{p: p}
}

// exited returns the process's exit, once Wait has seen it.
func (t *groupTarget) exited() (ExitStatus, bool) { return t.exit, t.done }
