//go:build linux

package proc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
)

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

// KillCgroup sends SIGKILL to every process of the cgroup g: through
// cgroup.kill, else (before Linux 5.14, or when cgroup.kill cannot be
// written) to each process in turn. It fails with ErrGone when g is gone,
// or has no process left for the second way, and otherwise with what it
// missed, having killed what it could. The helpers it went on without are
// recorded in the Faults of ctx (cgroup.WithFaults).
func KillCgroup(ctx context.Context, g cgroup.Group) error {
	_, err := signalLeaf(ctx, g, unix.SIGKILL, false)
	return err
}

// CgroupEmptyBy reports whether the cgroup g is empty, waiting for it
// until deadline. A cgroup that is gone is empty; one whose state cannot
// be read is not (WaitEmpty keeps trying until the deadline, recording
// why in the Faults of ctx).
func CgroupEmptyBy(ctx context.Context, g cgroup.Group, deadline time.Time) bool {
	if time.Until(deadline) <= 0 {
		populated, err := g.Populated()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			cgroup.ContextFaults(ctx).Add(cgroup.HelperEvents, err)
			return false
		}
		return !populated
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := g.WaitEmpty(ctx)
	return err == nil || errors.Is(err, fs.ErrNotExist)
}
