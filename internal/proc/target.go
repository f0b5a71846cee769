//go:build linux

package proc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
)

// Target returns p as an escalation Target: its cgroup when it has one
// (every process of it, each stop signal with SIGCONT; exited once p is
// reaped and the cgroup empty), else p and its process group. faults
// (nil: none kept) gets what a cgroup stop went on without.
//
// Its Wait, and its Signal once the cgroup is empty, receive p's exit
// from Exit for the caller: they are meant for p's owner, the one
// receiver of Exit (Stop is Escalate on such a Target). Anyone else who
// signals through it may take the exit from the owner.
func (p *Process) Target(faults *cgroup.Faults) Target { return p.target(faults) }

// stopTarget is a Target that also says how the process ended.
type stopTarget interface {
	Target
	exited() (ExitStatus, bool)
}

func (p *Process) target(faults *cgroup.Faults) stopTarget {
	if p.leaf != (cgroup.Group{}) {
		return &leafTarget{groupTarget: groupTarget{p: p}, leaf: p.leaf, faults: faults}
	}
	return &groupTarget{p: p}
}

// groupTarget is a started process as an escalation Target: signals go
// to the process and its group, each stop signal with SIGCONT, the exit
// comes from the Reaper.
type groupTarget struct {
	p    *Process
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

// exited returns the process's exit, once Wait has seen it.
func (t *groupTarget) exited() (ExitStatus, bool) { return t.exit, t.done }

// leafTarget is a started process and its whole cgroup as an escalation
// Target: a signal reaches every process of the cgroup (a setsid
// grandchild, a double-forked daemon), SIGKILL is cgroup.kill, and the
// target has exited once the process is reaped and the cgroup empty. It
// fails closed: what it could not do through the cgroup it records in
// faults and does another way (see Signal).
type leafTarget struct {
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
func (t *leafTarget) Signal(sig unix.Signal) error {
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

func (t *leafTarget) Wait(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	if !t.groupTarget.Wait(ctx, d) {
		return false
	}
	return CgroupEmptyBy(t.ctx(ctx), t.leaf, deadline)
}

// ctx returns ctx with the target's faults, for the cgroup calls.
func (t *leafTarget) ctx(ctx context.Context) context.Context {
	return cgroup.WithFaults(ctx, t.faults)
}

// CgroupTarget is every process of a cgroup as an escalation Target, when
// none of them is a process this program started (those a dead
// supervisor left behind): signalled through the cgroup, each stop signal
// with SIGCONT, exited once the cgroup is empty. The zero value is not
// usable: Cgroup must be set.
type CgroupTarget struct {
	Cgroup cgroup.Group
	Faults *cgroup.Faults // gets what the stop went on without; nil: none kept
}

// Signal sends sig to every process of the cgroup; it fails only when it
// reached none of them (with ErrGone when there are none).
func (t CgroupTarget) Signal(sig unix.Signal) error {
	reached, err := signalLeaf(cgroup.WithFaults(context.Background(), t.Faults), t.Cgroup, sig, true)
	if reached {
		return nil // what it missed is in t.Faults
	}
	return err
}

// Wait waits up to d for the cgroup to be empty.
func (t CgroupTarget) Wait(ctx context.Context, d time.Duration) bool {
	return CgroupEmptyBy(cgroup.WithFaults(ctx, t.Faults), t.Cgroup, time.Now().Add(d))
}
