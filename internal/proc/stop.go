//go:build linux

package proc

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
)

// Stopped is how a Stop went: the escalation, and how the process ended.
type Stopped struct {
	Escalation
	// Exit is how the process ended; zero when it was not reaped.
	Exit ExitStatus
	// Killed is true when SIGKILL is what ended the process: a process
	// that exited on its own just as the KILL went out was not killed.
	Killed bool
	// Faults are the helpers of the stop that failed while it went on
	// without them (the freezer, the watch on cgroup.events, a signal to
	// one process...), one each: the caller logs and counts them once.
	Faults []cgroup.Fault
}

// Stop ends p with plan (see Escalate): signals go to every process of
// p's cgroup, or to p and its process group without one, each with
// SIGCONT, and its exit comes from the Reaper, which also kills what is
// left of the group before it reaps p. It returns once p has been reaped
// and its cgroup is empty or, if either outlives SIGKILL by the plan's
// kill wait, with Err set; an exit not in Stopped.Exit then is still sent
// on Exit whenever it comes. A helper that fails on the way does not end the stop early
// (see Target): it is in Faults.
//
// Only p's owner may stop it: the exit is received here, not on Exit. It
// takes no context: a stop abandoned half-way would leave a process its
// caller believes stopped.
func (p *Process) Stop(plan Plan) Stopped {
	faults := &cgroup.Faults{}
	t := p.target(faults)
	s := Stopped{Escalation: Escalate(context.Background(), t, plan)}
	for _, err := range s.Undelivered {
		faults.Add(cgroup.HelperSignal, err)
	}
	s.Faults = faults.List()
	if ex, ok := t.exited(); ok {
		s.Exit = ex
		sig, ok := ex.Signal()
		s.Killed = ok && sig == unix.SIGKILL
	}
	return s
}
