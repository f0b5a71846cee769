package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/signame"
)

// Plan is an escalation: each signal in turn, waiting Wait after each for
// the process to exit, then SIGKILL.
type Plan struct {
	Signals []unix.Signal // e.g. QUIT, TERM; SIGKILL is always the last step
	Wait    time.Duration // after each signal of Signals
	// KillWait is how long to wait for the exit after SIGKILL; 0 means
	// DefaultKillWait. A process in uninterruptible sleep dies only when
	// its I/O completes.
	KillWait time.Duration
}

// DefaultKillWait is the wait after SIGKILL when Plan.KillWait is 0.
const DefaultKillWait = 5 * time.Second

// StopReport is what an escalation did.
type StopReport struct {
	Sent     []history.SignalSent
	Killed   bool          // SIGKILL was sent
	Exited   bool          // the process is known to have exited
	Duration time.Duration // from the first signal to the exit (or giving up)
	// Err is why the escalation stopped short: ErrPIDReused (the PID was
	// handed to another process, which was left alone), a failed signal,
	// a cancelled context, or a process still alive after SIGKILL.
	Err error
}

// Escalate stops p: each signal of the plan, only while p is still alive,
// then SIGKILL. Every signal is preceded by the start-time check of
// (*Process).Signal and goes through p's pidfd. It returns when p has
// exited, when it gives up (see StopReport.Err) or when ctx is done.
func Escalate(ctx context.Context, p *Process, plan Plan) (rep StopReport) {
	t0 := time.Now()
	defer func() { rep.Duration = time.Since(t0) }()
	steps := append([]unix.Signal(nil), plan.Signals...)
	if len(steps) == 0 || steps[len(steps)-1] != unix.SIGKILL {
		steps = append(steps, unix.SIGKILL)
	}
	for i, sig := range steps {
		if p.Exited() {
			rep.Exited = true
			return rep
		}
		if err := p.Signal(sig); err != nil {
			if errors.Is(err, ErrGone) {
				rep.Exited = true
			} else {
				rep.Err = err
			}
			return rep
		}
		rep.Sent = append(rep.Sent, history.SignalSent{Signal: signame.Name(sig), Time: time.Now()})
		wait := plan.Wait
		if sig == unix.SIGKILL {
			rep.Killed = true
			wait = plan.KillWait
			if wait <= 0 {
				wait = DefaultKillWait
			}
		}
		if p.WaitExit(ctx, wait) {
			rep.Exited = true
			return rep
		}
		if err := ctx.Err(); err != nil {
			rep.Err = fmt.Errorf("stop interrupted after %s: %w", signame.Name(sig), err)
			return rep
		}
		if i == len(steps)-1 {
			rep.Err = fmt.Errorf("pid %d still alive %s after SIGKILL", p.PID, wait)
		}
	}
	return rep
}
