package supervisor

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/signame"
)

// StopReport says how a stop went: what was sent, when, and how the
// process ended.
type StopReport struct {
	PID         int
	SignalsSent []history.SignalSent
	Killed      bool // the escalation reached SIGKILL
	Exit        ExitStatus
	Duration    time.Duration // from the first signal to the reap
	DryRun      bool          // nothing was sent
}

// EndedBy names what ended the process: "TERM" when it died of (or exited
// after) the last signal sent, "KILL", or "exit 0" when it ended before any
// signal.
func (r StopReport) EndedBy() string {
	if sig, ok := r.Exit.Signal(); ok {
		return signame.Name(sig)
	}
	if n := len(r.SignalsSent); n > 0 {
		return r.SignalsSent[n-1].Signal
	}
	return r.Exit.String()
}

func (r StopReport) String() string {
	var sent []string
	for _, s := range r.SignalsSent {
		sent = append(sent, s.Signal)
	}
	s := fmt.Sprintf("pid %d ended by %s (%s) after %s", r.PID, r.EndedBy(), r.Exit, r.Duration.Round(time.Millisecond))
	if len(sent) > 0 {
		s += ", sent " + strings.Join(sent, ", ")
	}
	return s
}

// stopProcess stops p with the escalation chain: each step's signal goes to
// the process group, then it waits up to the step's wait for p to exit;
// after the last step it sends SIGKILL to the group. It returns only when p
// has been reaped, and then SIGKILLs whatever is left of the group (a
// grandchild that ignored the signals), so a stop always ends in death.
//
// With dryRun it logs the signals it would send and returns at once.
func stopProcess(p *process, steps []config.StopStep, dryRun bool, log zerolog.Logger) StopReport {
	rep := StopReport{PID: p.pid, DryRun: dryRun}
	start := time.Now()
	if dryRun {
		for _, st := range steps {
			log.Info().Str("signal", signame.Name(st.Signal)).Dur("wait", st.Wait).Msg("dry run: would send signal to process group")
		}
		log.Info().Msg("dry run: would send KILL to process group")
		return rep
	}
	steps = append(steps[:len(steps):len(steps)], config.StopStep{Signal: unix.SIGKILL})
	for _, st := range steps {
		select {
		case ex := <-p.exit: // already gone
			rep.Exit = ex
		default:
		}
		if rep.Exit.PID != 0 {
			break
		}
		sendGroup(p.pid, st.Signal, log)
		rep.SignalsSent = append(rep.SignalsSent, history.SignalSent{Signal: signame.Name(st.Signal), Time: time.Now().UTC()})
		rep.Killed = st.Signal == unix.SIGKILL
		if st.Signal == unix.SIGKILL {
			rep.Exit = waitKilled(p, log)
			break
		}
		timer := time.NewTimer(st.Wait)
		select {
		case ex := <-p.exit:
			rep.Exit = ex
		case <-timer.C:
		}
		timer.Stop()
		if rep.Exit.PID != 0 {
			break
		}
	}
	rep.Duration = max(0, rep.Exit.At.Sub(start))
	killGroupRemains(p.pid, log)
	return rep
}

// waitKilled waits for a SIGKILLed process. SIGKILL cannot be caught, but a
// process in uninterruptible sleep (D state, e.g. stuck on NFS) dies only
// when the kernel lets it, so keep saying so instead of returning early.
func waitKilled(p *process, log zerolog.Logger) ExitStatus {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case ex := <-p.exit:
			return ex
		case <-tick.C:
			log.Warn().Int("pid", p.pid).Msg("still not dead 10s after SIGKILL (uninterruptible sleep?)")
		}
	}
}

// sendGroup signals the process group pgid. ESRCH (the group is already
// empty) is normal during a stop.
func sendGroup(pgid int, sig unix.Signal, log zerolog.Logger) {
	log.Debug().Int("pgid", pgid).Str("signal", signame.Name(sig)).Msg("signal process group")
	if err := unix.Kill(-pgid, sig); err != nil && err != unix.ESRCH {
		log.Error().Err(err).Int("pgid", pgid).Str("signal", signame.Name(sig)).Msg("cannot signal process group")
	}
}

// killGroupRemains SIGKILLs what is left of a process group after its
// leader was reaped. The group id cannot be reused while any member lives,
// so this reaches only the leader's own leftovers; their exits are reaped
// as orphans because resreap is their subreaper.
func killGroupRemains(pgid int, log zerolog.Logger) {
	if err := unix.Kill(-pgid, unix.SIGKILL); err == nil {
		log.Info().Int("pgid", pgid).Msg("killed processes left in the group after the leader exited")
	}
}
