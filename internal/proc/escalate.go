//go:build linux

package proc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/signame"
)

// ErrGone is returned (wrapped) by a Target that has exited: there is
// nothing left to signal, and nothing was signalled.
var ErrGone = errors.New("process exited")

// Target is what an escalation stops. A supervised child and a process
// the watchdog judged differ only in how they are signalled (the child's
// process group or cgroup; a pidfd) and in how their exit is seen (the
// reaper's exit channel, cgroup.events; the pidfd).
type Target interface {
	// Signal sends sig to every process of the target, or fails with an
	// error wrapping ErrGone, having sent nothing, when the target is known
	// to have exited. A target signals only processes it has proven to be
	// its own (an unreaped PID, a pidfd, a cgroup). Any other error says
	// the signal reached none of them; the escalation goes on regardless.
	Signal(sig unix.Signal) error
	// Wait waits up to d for the target to exit and reports whether it
	// did; it returns false early when ctx is done.
	Wait(ctx context.Context, d time.Duration) bool
}

// DefaultKillWait bounds the wait after SIGKILL when a Plan gives none. A
// process dies of SIGKILL at once unless it sleeps uninterruptibly (D
// state, e.g. on a dead NFS server): then the stop gives up, says so, and
// the process's exit is still collected whenever it comes. It is also the
// default kill_wait of a child (a test of the supervisor keeps the two the
// same).
const DefaultKillWait = 10 * time.Second

// Step is one signal of an escalation and how long to wait for the exit
// after it.
type Step struct {
	Signal unix.Signal
	Wait   time.Duration // 0: look once, then the next step
}

// Plan is an escalation: each step's signal, then up to the step's wait
// for the exit; SIGKILL always follows the last step. The zero Plan goes
// straight to SIGKILL and waits DefaultKillWait.
type Plan struct {
	Steps    []Step
	KillWait time.Duration // after SIGKILL; 0 means DefaultKillWait
}

// SignalSent is a signal an escalation sent, and when.
type SignalSent struct {
	Signal unix.Signal
	Time   time.Time // UTC
}

// Escalation is what Escalate did.
type Escalation struct {
	SignalsSent []SignalSent // in order, with the time each was sent
	// Undelivered holds the signals that could not be sent, each with
	// why; the escalation went on past each of them.
	Undelivered []error
	// Exited is true when the target is known to have exited (before the
	// first signal, if SignalsSent is empty).
	Exited   bool
	Duration time.Duration // from the start of the escalation to the exit (or giving up)
	// Err says why the escalation ended without an exit: the target was
	// still alive after SIGKILL and the kill wait (it wraps the signals
	// that could not be sent, if any), or ctx was done.
	Err error
}

// KillSent reports whether the escalation reached SIGKILL.
func (e Escalation) KillSent() bool {
	n := len(e.SignalsSent)
	return n > 0 && e.SignalsSent[n-1].Signal == unix.SIGKILL
}

// Escalate stops t: each step's signal while t is alive, waiting the
// step's wait after each, then SIGKILL and the kill wait. It returns when
// t has exited, when it gives up (Err), or when ctx is done.
//
// It fails closed: a signal that cannot be sent is noted (Undelivered)
// and the next step follows at once, since there is nothing to wait for;
// KILL always comes, and the kill wait is waited even when KILL could not
// be sent either, so that only a target still alive at its end makes an
// error. A step that gave up at the first failure would leave the target
// running while its caller believed it stopped.
func Escalate(ctx context.Context, t Target, plan Plan) (e Escalation) {
	start := time.Now()
	defer func() { e.Duration = time.Since(start) }()
	killWait := plan.KillWait
	if killWait <= 0 {
		killWait = DefaultKillWait
	}
	steps := append(plan.Steps[:len(plan.Steps):len(plan.Steps)], Step{Signal: unix.SIGKILL, Wait: killWait})
	for i, st := range steps {
		if t.Wait(ctx, 0) {
			e.Exited = true
			return e
		}
		err := t.Signal(st.Signal)
		switch {
		case errors.Is(err, ErrGone):
			e.Exited = true
			return e
		case err != nil:
			e.Undelivered = append(e.Undelivered, fmt.Errorf("%s: %w", signame.Name(st.Signal), err))
			if i < len(steps)-1 {
				continue
			}
		default:
			e.SignalsSent = append(e.SignalsSent, SignalSent{Signal: st.Signal, Time: time.Now().UTC()})
		}
		if t.Wait(ctx, st.Wait) {
			e.Exited = true
			return e
		}
		if err := ctx.Err(); err != nil {
			e.Err = fmt.Errorf("stop interrupted after %s: %w", signame.Name(st.Signal), err)
			return e
		}
	}
	if e.KillSent() {
		e.Err = fmt.Errorf("still alive %s after KILL (uninterruptible sleep?)", killWait)
	} else {
		e.Err = fmt.Errorf("still alive %s after KILL could not be sent", killWait)
	}
	if len(e.Undelivered) > 0 {
		e.Err = fmt.Errorf("%w: %w", e.Err, errors.Join(e.Undelivered...))
	}
	return e
}
