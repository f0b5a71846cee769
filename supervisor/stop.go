//go:build linux

package supervisor

import (
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/signame"
)

// StopReport says how a stop went: what was sent, when, and how the
// process ended.
type StopReport struct {
	PID         int
	SignalsSent []history.SignalSent
	// Killed is true when SIGKILL is what ended the process: a process
	// that exited on its own just as the KILL went out was not killed.
	Killed   bool
	Exit     proc.ExitStatus // how the process ended; zero when it was not reaped
	Duration time.Duration   // from the start of the stop to the reap (or giving up)
	DryRun   bool            // nothing was sent
	// Faults are the helpers of the stop that failed while it went on
	// without them (the freezer, the watch on cgroup.events, a signal to
	// one process...), one each: the caller logs and counts them once.
	Faults []cgroup.Fault
	// Err is set when the process did not exit within the kill wait; its
	// exit is still collected whenever it comes.
	Err error
}

// EndedBy names what ended the process: the signal that killed it, else
// the last signal it was sent before it exited on its own ("TERM" for a
// clean exit after TERM), else how it exited ("exit 0") when it ended
// before any signal.
func (r StopReport) EndedBy() string {
	if sig, ok := r.Exit.Signal(); ok {
		return signame.Name(sig)
	}
	for i := len(r.SignalsSent) - 1; i >= 0; i-- {
		// A KILL that found the process already exiting did not end it.
		if s := r.SignalsSent[i].Signal; s != signame.Name(unix.SIGKILL) {
			return s
		}
	}
	return r.Exit.String()
}

// stopProcess stops p with the child's stop chain (see proc.Process.Stop)
// and reports it in the history's terms. It returns once p has been
// reaped and its cgroup is empty or, if either outlives SIGKILL by the
// kill wait, with Err set.
//
// With dryRun it logs the signals it would send and returns at once.
func stopProcess(p *proc.Process, stop config.StopSpec, dryRun bool, log zerolog.Logger) StopReport {
	rep := StopReport{PID: p.PID(), DryRun: dryRun}
	if dryRun {
		for _, st := range stop.Steps {
			log.Info().Str("signal", signame.Name(st.Signal)).Str("wait", st.Wait.String()).Msg("dry run: would send signal to process group")
		}
		log.Info().Msg("dry run: would send KILL to process group")
		return rep
	}
	s := p.Stop(stopPlan(stop))
	rep.SignalsSent, rep.Duration, rep.Err, rep.Faults = signalsSent(s.SignalsSent), s.Duration, s.Err, s.Faults
	rep.Exit, rep.Killed = s.Exit, s.Killed
	return rep
}

// stopPlan is a child's stop chain as an escalation.
func stopPlan(stop config.StopSpec) proc.Plan {
	plan := proc.Plan{Steps: make([]proc.Step, len(stop.Steps)), KillWait: stop.KillWait}
	for i, st := range stop.Steps {
		plan.Steps[i] = proc.Step(st)
	}
	return plan
}

// signalsSent is what an escalation sent, as the history records it.
func signalsSent(sent []proc.SignalSent) []history.SignalSent {
	var out []history.SignalSent
	for _, s := range sent {
		out = append(out, history.SignalSent{Signal: signame.Name(s.Signal), Time: s.Time})
	}
	return out
}
