//go:build linux

package watch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/signame"
)

// act handles one unhealthy verdict: report it, pin the process, ask the
// -c command, then escalate. It returns nil when the process was stopped,
// errDryRun in a dry run, or why it was left alone (proc.ErrGone,
// ErrPIDReused, errVeto, a failed escalation).
func (w *watcher) act(ctx context.Context, c candidate, ev *health.Evidence) error {
	log := w.log.With().Int("pid", c.PID).Str("comm", c.Comm).Logger()
	plan := w.plan()
	rec := history.Record{
		Child:    c.Comm,
		PID:      c.PID,
		Event:    history.EventUnhealthy,
		Reason:   history.Reason(ev.Reason),
		Evidence: ev,
		Uptime:   history.Duration(w.uptime(c)),
	}
	if w.checkOnly() {
		rec.Message = "would send " + planText(plan)
		if w.opts.DryRun {
			rec.Message = "dry run: " + rec.Message
		}
		w.ev.emit(rec)
		return errDryRun
	}
	w.ev.emit(rec)
	// Pin the process now, at judgement: whatever happens to the PID while
	// the -c command runs, the signals can only reach this process.
	p, err := openProcess(w.procRoot, c.PID, c.Start)
	if err != nil {
		w.leftAlone(log, c, err)
		return err
	}
	defer p.Close()
	if w.opts.Command != "" {
		if err := w.runCommand(ctx, c, ev, log); err != nil {
			log.Info().Err(err).Msg("not signalled this time")
			w.ev.emit(history.Record{Child: c.Comm, PID: c.PID, Event: history.EventVeto,
				Reason: rec.Reason, Message: err.Error()})
			return err
		}
	}
	rep := proc.Escalate(ctx, p, plan)
	stop := history.Record{
		Child:        c.Comm,
		PID:          c.PID,
		Event:        history.EventStop,
		Reason:       rec.Reason,
		SignalsSent:  signalsSent(rep.SignalsSent),
		Killed:       rep.KillSent() && rep.Exited, // not ours to reap: how it died is unknown
		StopDuration: history.Duration(rep.Duration),
		Uptime:       history.Duration(w.uptime(c)),
		Message:      stopMessage(rep),
	}
	if len(rep.SignalsSent) > 0 || rep.Err != nil {
		w.ev.emit(stop)
	}
	w.scan.Forget(c.key())
	if rep.Err != nil {
		w.leftAlone(log, c, rep.Err)
		return rep.Err
	}
	return nil
}

// runCommand runs the -c command with /bin/sh, as the old tool did. The
// verdict reaches it in the environment only (pid=PID as the old tool set
// it, and health.HookEnv's RESREAP_*), never spliced into the command
// string, so a peer address cannot inject shell syntax. A command that
// cannot be run at all vetoes too: these processes are not ours.
func (w *watcher) runCommand(ctx context.Context, c candidate, ev *health.Evidence, log zerolog.Logger) error {
	sh, err := config.ResolveCommand("/bin/sh", "")
	if err != nil {
		return fmt.Errorf("%w: %w", errVeto, err)
	}
	h := proc.Hook{Command: proc.Command{
		Path:     sh,
		Args:     []string{"/bin/sh", "-c", w.opts.Command},
		ExtraEnv: append([]string{"pid=" + strconv.Itoa(c.PID)}, health.HookEnv(c.Comm, c.PID, ev)...),
	}, Timeout: w.opts.CommandTimeout}
	err = proc.RunHook(ctx, w.reaper, h, log.With().Str("hook", w.opts.Command).Logger())
	var veto *proc.VetoError
	if err != nil && !errors.As(err, &veto) {
		return fmt.Errorf("%w: %w", errVeto, err)
	}
	if err != nil {
		return fmt.Errorf("%w (%s)", errVeto, veto.Why)
	}
	return nil
}

// errVeto is wrapped by runCommand when the -c command said no.
var errVeto = errors.New("-c command vetoed the signal")

// leftAlone logs why a judged process was not (fully) signalled.
func (w *watcher) leftAlone(log zerolog.Logger, c candidate, err error) {
	switch {
	case errors.Is(err, proc.ErrGone):
		log.Info().Err(err).Msg("exited before it was signalled")
	case errors.Is(err, ErrPIDReused):
		log.Warn().Err(err).Uint64("judged_start", c.Start).Msg("PID reused: the new process is left alone")
	default:
		log.Error().Err(err).Msg("stop failed")
	}
}

func stopMessage(rep proc.Escalation) string {
	switch {
	case rep.Err != nil:
		return rep.Err.Error()
	case len(rep.SignalsSent) == 0:
		return "exited before the first signal"
	}
	return "exited after " + signame.Name(rep.SignalsSent[len(rep.SignalsSent)-1].Signal)
}

// signalsSent is what an escalation sent, as the history records it.
func signalsSent(sent []proc.SignalSent) []history.SignalSent {
	var out []history.SignalSent
	for _, s := range sent {
		out = append(out, history.SignalSent{Signal: signame.Name(s.Signal), Time: s.Time})
	}
	return out
}

// uptime is how long the process has run, from its start time in clock
// ticks since boot. USER_HZ is 100 on every Linux architecture in use
// (procfs assumes the same); 0 when the boot time is unknown.
func (w *watcher) uptime(c candidate) time.Duration {
	if w.boot.IsZero() {
		return 0
	}
	started := w.boot.Add(time.Duration(c.Start) * time.Second / 100)
	return time.Since(started).Round(10 * time.Millisecond)
}

// errDryRun is act's answer in a dry run.
var errDryRun = errors.New("dry run")

// checkOnly reports whether verdicts are only reported: -d, or --once
// without --act.
func (w *watcher) checkOnly() bool { return w.opts.DryRun || w.opts.Once && !w.opts.Act }
