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
func (p *process) signal(sig unix.Signal) error { return p.kill(sig, true, false) }

// stopSignal is signal for a step of a stop: SIGCONT follows the signal
// (see wakes), to the same process and group.
func (p *process) stopSignal(sig unix.Signal) error { return p.kill(sig, true, true) }

// signalMain sends sig to the process alone, not to its group or cgroup
// (a server whose workers must not get HUP). It fails with ErrGone once
// the process has been reaped.
func (p *process) signalMain(sig unix.Signal) error { return p.kill(sig, false, false) }

// kill sends sig to the process, and with group to its process group, only
// while it is unreaped; with cont, SIGCONT follows where wakes says.
func (p *process) kill(sig unix.Signal, group, cont bool) error {
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
	if cont && wakes(sig) {
		unix.Kill(p.pid, unix.SIGCONT) //nolint:errcheck // it took sig; CONT is only a wake-up
		if group {
			unix.Kill(-p.pid, unix.SIGCONT) //nolint:errcheck // as above
		}
	}
	return nil
}

// wakes reports whether a stop sends SIGCONT after sig, as systemd does
// after each of its stop signals: a process stopped by SIGSTOP (or ^Z)
// acts on no signal but KILL until it is continued, so without the CONT
// every soft step would be waited out in vain. KILL needs none (it ends a
// stopped process too); a stop-class signal would be undone by one.
func wakes(sig unix.Signal) bool {
	switch sig {
	case unix.SIGKILL, unix.SIGCONT, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return false
	}
	return true
}

// send delivers an operator's signal: to the main process only with
// mainOnly, else to every process of the cgroup, or without a cgroup to
// the process and its group.
func (p *process) send(sig unix.Signal, mainOnly bool) error {
	switch {
	case mainOnly:
		return p.signalMain(sig)
	case p.leaf != (cgroup.Group{}):
		_, err := signalLeaf(context.Background(), p.leaf, sig, false)
		return err
	}
	return p.signal(sig)
}

// signalLeaf delivers sig to every process of the cgroup leaf: SIGKILL
// through cgroup.kill, else (and before Linux 5.14, or when cgroup.kill
// cannot be written) to each process in turn, with cont followed by
// SIGCONT where wakes says. It reports whether it reached any process,
// and what it missed; ErrGone when the cgroup has no process left (or is
// gone). The helpers it went on without are recorded in the Faults of ctx.
func signalLeaf(ctx context.Context, leaf cgroup.Group, sig unix.Signal, cont bool) (reached bool, err error) {
	if sig == unix.SIGKILL {
		err = leaf.Kill()
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrNotExist):
			return false, fmt.Errorf("cgroup %s: %w", leaf.Path(), ErrGone)
		case !errors.Is(err, errors.ErrUnsupported):
			cgroup.ContextFaults(ctx).Add(cgroup.HelperKill, err)
		}
	}
	var n int
	if cont && wakes(sig) {
		n, err = leaf.SignalCont(ctx, sig)
	} else {
		n, err = leaf.Signal(ctx, sig)
	}
	if n == 0 && (err == nil || errors.Is(err, fs.ErrNotExist)) {
		return false, fmt.Errorf("cgroup %s: %w", leaf.Path(), ErrGone)
	}
	return n > 0, err
}

// groupTarget is a supervised process as an escalation Target: signals go
// to the process and its group, each stop signal with SIGCONT, the exit
// comes from the Reaper.
type groupTarget struct {
	p    *process
	exit ExitStatus // valid when exited
	done bool
}

func (t *groupTarget) Signal(sig unix.Signal) error {
	if t.done {
		return fmt.Errorf("pid %d: %w", t.p.pid, ErrGone)
	}
	return t.p.stopSignal(sig)
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
// It fails closed: what it could not do through the cgroup it records in
// faults and does another way (see Signal).
type cgroupTarget struct {
	groupTarget
	leaf   cgroup.Group
	faults *cgroup.Faults
}

// Signal sends sig to every process of the cgroup, each stop signal with
// SIGCONT. When the cgroup reaches none of them (cgroup.procs unreadable,
// no pidfd to be had), the main process and its process group get it
// instead: the Reaper keeps their IDs from being reused while the process
// is unreaped, so that needs no proof of membership. Only when neither
// reached anything is it an error, and the escalation goes on to KILL.
func (t *cgroupTarget) Signal(sig unix.Signal) error {
	reached, err := signalLeaf(t.ctx(context.Background()), t.leaf, sig, true)
	switch {
	case errors.Is(err, ErrGone):
		if !t.groupTarget.Wait(context.Background(), 0) {
			return nil // the cgroup is empty, the main process not reaped yet
		}
		return err
	case reached:
		return nil // what it missed is in t.faults
	}
	if perr := t.p.stopSignal(sig); perr != nil {
		return errors.Join(err, perr)
	}
	return nil
}

func (t *cgroupTarget) Wait(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	if !t.groupTarget.Wait(ctx, d) {
		return false
	}
	return emptyBy(t.ctx(ctx), t.leaf, deadline)
}

// ctx returns ctx with the target's faults, for the cgroup calls.
func (t *cgroupTarget) ctx(ctx context.Context) context.Context {
	return cgroup.WithFaults(ctx, t.faults)
}

// emptyBy reports whether leaf is empty, waiting for it until deadline.
// A cgroup that is gone is empty; one whose state cannot be read is not
// (WaitEmpty keeps trying until the deadline, recording why in the
// Faults of ctx).
func emptyBy(ctx context.Context, leaf cgroup.Group, deadline time.Time) bool {
	if time.Until(deadline) <= 0 {
		populated, err := leaf.Populated()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			cgroup.ContextFaults(ctx).Add(cgroup.HelperEvents, err)
			return false
		}
		return !populated
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := leaf.WaitEmpty(ctx)
	return err == nil || errors.Is(err, fs.ErrNotExist)
}

// target returns p as an escalation Target: its cgroup when it has one,
// else its process group. faults (nil: none kept) gets what a cgroup
// stop went on without.
func (p *process) target(faults *cgroup.Faults) interface {
	Target
	exited() (ExitStatus, bool)
} {
	if p.leaf != (cgroup.Group{}) {
		return &cgroupTarget{groupTarget: groupTarget{p: p}, leaf: p.leaf, faults: faults}
	}
	return &groupTarget{p: p}
}

// exited returns the process's exit, once Wait has seen it.
func (t *groupTarget) exited() (ExitStatus, bool) { return t.exit, t.done }
