//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/signame"
)

// process is one started process: the main process of a child, or a hook.
// It leads its own process group (its PID is the group ID).
type process struct {
	pid     int
	started time.Time
	exit    chan ExitStatus // buffered 1; the Reaper sends the exit once
	outputs []*os.File      // read ends of the stdout/stderr pipes

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
func (p *process) signal(sig unix.Signal) error {
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
	unix.Kill(-p.pid, sig) //nolint:errcheck // ESRCH: the process left its group, which is then empty
	return nil
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
