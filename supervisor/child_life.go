//go:build linux

package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
)

// start runs a new instance. Every start attempt after the child's first
// in this resreap is a restart, whatever caused it (a crash, a verdict,
// an operator, a reload, a failed start before): status's RESTARTS and
// history --summary count the same thing. A start that fails before the
// program runs (missing binary, bad dir, unknown user) is a failed start
// like an early exit: it is logged with what to fix and followed by the
// backoff. While an old generation of the child still lives (see
// lingerer), the start waits for it instead, in Backoff: it is not an
// attempt yet.
func (c *child) start() {
	if c.holdStart() {
		return
	}
	c.attempts++
	restarts := c.attempts - 1
	if restarts > 0 {
		c.update(func(s *ChildStatus) {
			if s.RestartsBy == nil {
				s.RestartsBy = map[history.Reason]int{}
			}
			s.RestartsBy[s.LastReason]++
		})
	}
	p, err := c.spawn()
	if err != nil {
		c.log.Error().Err(err).Strs("command", c.spec.Command).Msg("start failed")
		c.update(func(s *ChildStatus) {
			s.LastReason, s.LastExit, s.Restarts, s.Failures = history.ReasonStartFailed, err.Error(), restarts, s.Failures+1
			s.LastOutput = nil // it never ran: the error says why
		})
		c.failed(history.Record{Child: c.spec.Name, Event: history.EventStart, Reason: history.ReasonStartFailed,
			Message: err.Error(), Restarts: restarts}, 0, true)
		return
	}
	c.setProc(p)
	c.tail = tailOf(p)
	c.gen = c.nextGen
	c.setGens(genRef{pid: p.PID(), leaf: p.Cgroup().Path()})
	for i, f := range p.Outputs() {
		if f != nil {
			c.sup.copyOutput(f, c, i == 1, c.tail)
		}
	}
	c.update(func(s *ChildStatus) {
		s.PID, s.Started, s.Restarts, s.Cgroup = p.PID(), p.Started(), restarts, p.Cgroup().Path()
	})
	c.setState(Starting)
	c.sup.record(c.log.Info(), history.Record{Child: c.spec.Name, PID: p.PID(), Event: history.EventStart, Restarts: restarts})
	switch {
	case c.spec.Ready.Notify:
		c.arm(timerNotify, c.spec.StartTimeout)
	case c.spec.Ready.Enabled():
		c.startProbe(p)
	case c.spec.StartGrace > 0:
		c.arm(timerRunning, c.spec.StartGrace)
	default:
		c.running("started")
	}
}

// running marks the started process Running: it has become ready, or
// stayed up start_seconds without a probe.
func (c *child) running(why string) {
	c.setState(Running)
	c.sup.rec.note(c.log.Info().Int("pid", c.proc.PID()).Str("because", why), fmt.Sprintf("%s running (pid %d)", c.name, c.proc.PID()))
}

// startProbe starts the prober of process p (see prober).
func (c *child) startProbe(p *proc.Process) {
	ctx, cancel := context.WithCancel(context.Background())
	c.stopProbe = cancel
	spec := c.spec
	spec.Ready = expandProbe(spec.Ready, p.PID(), c.gen)
	c.probing.Go(func() { prober(ctx, &spec, p, c.sup.reaper, c.log, c.probes) })
}

// endProbe stops the prober, if any, and waits for it: it must not
// outlive the process it probes.
func (c *child) endProbe() {
	if c.stopProbe != nil {
		c.stopProbe()
		c.stopProbe = nil
	}
	c.probing.Wait()
}

// probed acts on what the prober found: readiness makes the child
// Running; no readiness within start_timeout is a failed start (the
// process is stopped, then the backoff or the start limit); failures of
// a running child, liveness.failures in a row, restart it like a health
// verdict.
func (c *child) probed(r probeResult) {
	if c.proc == nil || r.pid != c.proc.PID() {
		return
	}
	switch {
	case r.ready && c.status().State == Starting:
		c.cancelTimer()
		c.running("ready: " + c.spec.Ready.String())
	case r.timedOut:
		c.notReady(r.err)
	case r.recovered:
		c.setReady(true, "")
	case r.err != nil:
		c.setReady(false, r.err.Error())
		if r.fails >= c.spec.Liveness.Failures {
			ev := &health.Evidence{Reason: health.ReasonLiveness, Probe: r.err.Error(), Failures: r.fails}
			c.unhealthy(verdict{pid: r.pid, evidence: ev})
		}
	}
}

// setReady records what the last liveness probe of the Running child
// said; the change is logged once, not every probe.
func (c *child) setReady(ready bool, why string) {
	c.mu.Lock()
	changed := c.snap.State == Running && c.snap.Ready != ready
	if changed {
		c.snap.Ready = ready
	}
	c.mu.Unlock()
	switch {
	case !changed:
	case ready:
		c.log.Info().Msg(c.name + " ready again: its probe passes")
	default:
		c.log.Warn().Str("probe", why).Msg(c.name + " not ready: its probe failed")
	}
}

// notReady handles a start that did not become ready within
// start_timeout: the process is stopped and the start counts as failed.
func (c *child) notReady(last error) {
	msg := fmt.Sprintf("not ready within %s (%s); last probe: %v", c.spec.StartTimeout, c.spec.Ready, last)
	c.log.Warn().Msg(c.name + " " + msg)
	uptime := time.Since(c.proc.Started())
	rep := c.stop(history.ReasonNotReady, nil)
	tail := c.tail.read(&c.spec)
	c.update(func(s *ChildStatus) {
		s.LastReason, s.LastExit, s.Failures, s.LastOutput = history.ReasonNotReady, msg, s.Failures+1, tail
	})
	c.failed(history.Record{Child: c.spec.Name, PID: rep.PID, Event: history.EventRestart, Reason: history.ReasonNotReady,
		Message: msg, Restarts: c.attempts, OutputTail: tail}, uptime, true)
}

// spawn starts the child's process, in its cgroup when it has one.
func (c *child) spawn() (*proc.Process, error) {
	if err := c.sup.openOutputs(&c.spec); err != nil {
		return nil, err
	}
	leaf, ok, err := c.sup.own.leaf(&c.spec)
	if err != nil {
		return nil, &proc.SpawnError{What: "cgroup", Path: leaf.Path(), Err: err}
	}
	c.nextGen = c.attempts
	if !ok {
		leaf = cgroup.Group{}
	} else {
		c.nextGen = c.sup.own.lastGen(c.spec.Name)
	}
	cmd, err := childCommand(&c.spec, leaf)
	var files []*os.File
	if err == nil {
		files, err = c.sockets()
	}
	var p *proc.Process
	if err == nil {
		c.activate(&cmd, files, c.nextGen)
		p, err = c.sup.reaper.Spawn(cmd)
	}
	if err != nil && ok {
		c.sup.own.release(leaf) // nothing ever ran in it
	}
	return p, err
}

// exited handles an exit resreap did not cause.
func (c *child) exited(ex proc.ExitStatus) {
	p := c.proc
	if c.followSuccessor(p, ex) {
		return
	}
	c.setProc(nil)
	c.setGens()
	c.cancelTimer()
	if p.Cgroup() != (cgroup.Group{}) && !c.killRemains(p) {
		c.linger(p, true)
	}
	uptime := ex.At.Sub(p.Started())
	rec := history.Record{Child: c.spec.Name, PID: p.PID(), Event: history.EventExit, Reason: history.ReasonExited, Uptime: history.Duration(uptime)}
	rec.Signal, rec.ExitCode = ex.SignalOrCode()
	if len(ex.Left) > 0 {
		rec.Processes = historyProcs(ex.Left)
		rec.Message = "killed " + plural(len(ex.Left), "process", "processes") + " it left in its cgroup"
	}
	var done bool // the restart policy says not to start it again
	switch {
	case c.spec.Restart == config.RestartNever, c.spec.Restart == config.RestartOnFailure && !ex.Failed():
		done = true
	case c.sup.isClosing():
		// Shutdown (or its second interrupt) got there first: nothing
		// will be started again.
		done = true
	}
	failedStart := uptime < c.spec.StartGrace
	if failedStart && !done {
		// A failed start, as the start limit counts it and the fatal
		// record says: recorded so, with the process's last words.
		rec.Reason, rec.OutputTail = history.ReasonStartFailed, c.tail.read(&c.spec)
	}
	c.update(func(s *ChildStatus) {
		s.ended(rec.Reason, ex.String(), ex.ShellCode())
		s.LastFailed = ex.Failed()
		if failedStart {
			s.Failures++
			s.LastOutput = rec.OutputTail
		}
	})
	if done {
		c.setState(Exited)
		c.sup.record(c.log.Info(), rec)
		return
	}
	c.failed(rec, uptime, failedStart)
}

// setProc sets the current process, and the copy ForceKill reads. The
// prober of the process before ends with it.
func (c *child) setProc(p *proc.Process) {
	if p == nil {
		c.endProbe()
	}
	c.proc = p
	c.mu.Lock()
	c.live = p
	c.mu.Unlock()
}

// killRemains kills what is left in the cgroup of p, whose main process
// exited: workers or a daemon it forked must not outlive it (they may hold
// its port). The cgroup, a generation of p's own, is then removed. It
// reports whether the cgroup is empty; if not, after the kill wait, it is
// left with its processes. Without a cgroup the Reaper has already killed
// p's process group. (What p left is named in its exit, read by the
// Reaper before it killed p's group: see proc.ExitStatus.Left.)
func (c *child) killRemains(p *proc.Process) bool {
	leaf := p.Cgroup()
	procs, err := leaf.Procs()
	if err == nil && len(procs) == 0 {
		c.sup.own.release(leaf)
		return true
	}
	faults := &cgroup.Faults{}
	ctx := cgroup.WithFaults(context.Background(), faults)
	kerr := proc.KillCgroup(ctx, leaf)
	wait := cmp.Or(c.spec.Stop.KillWait, proc.DefaultKillWait)
	empty := errors.Is(kerr, proc.ErrGone) || proc.CgroupEmptyBy(ctx, leaf, time.Now().Add(wait))
	c.sup.own.noteFaults(c.log, "killing what the exited process left", faults.List())
	if !empty {
		c.log.Error().Err(kerr).Ints("pids", procs).Str("cgroup", leaf.Path()).Str("wait", wait.String()).
			Msg("processes left in the cgroup still alive after SIGKILL; the next start waits for them")
		return false
	}
	if len(procs) > 0 {
		c.log.Info().Ints("pids", procs).Msg("killed the processes left in the cgroup after the main process exited")
	}
	c.sup.own.release(leaf)
	return true
}

// failed records a failure (an exit, or with failedStart an exit before
// start_seconds or a start that never ran) and schedules the next start
// after the backoff, or gives up with Fatal when the start limit is
// exceeded.
func (c *child) failed(rec history.Record, uptime time.Duration, failedStart bool) {
	if failedStart && c.tracker.failedStart(c.spec.StartLimit, time.Now()) {
		c.sup.record(c.log.Warn(), rec)
		c.setState(Fatal)
		msg := "more than " + strconv.Itoa(c.spec.StartLimit.Burst) + " failed starts within " + c.spec.StartLimit.Interval.String() + "; not restarting until started by hand or changed by a reload"
		c.sup.record(c.log.Error(), history.Record{Child: c.spec.Name, Event: history.EventFatal, Reason: rec.Reason, Message: msg})
		return
	}
	delay := c.tracker.nextDelay(c.spec.Backoff, uptime)
	rec.Backoff = history.Duration(delay)
	c.sup.record(c.log.Warn(), rec)
	c.backoff(delay)
}

// backoff schedules the next start after delay. A zero delay goes through
// the timer too, so that a child failing at once in a loop returns to the
// run loop between starts (requests are served, a stop gets through)
// instead of recursing start -> failed -> start.
func (c *child) backoff(delay time.Duration) {
	c.setState(Backoff)
	c.arm(timerBackoff, max(delay, 0))
}

// stop ends the current process through the escalation chain and records
// how it went. The caller decides what happens next.
func (c *child) stop(reason history.Reason, ev *health.Evidence) StopReport {
	p := c.proc
	c.cancelTimer()
	c.setState(Stopping)
	var rep StopReport
	if c.follow != nil && !c.sup.opts.DryRun {
		rep = c.stopFollowed(p)
	} else {
		rep = stopProcess(p, c.spec.Stop, c.sup.opts.DryRun, c.log)
	}
	if rep.DryRun {
		c.setState(Running)
		return rep
	}
	c.sup.own.noteFaults(c.log, "the stop", rep.Faults)
	c.setProc(nil)
	c.setGens()
	rec := history.Record{
		Child: c.spec.Name, PID: rep.PID, Event: history.EventStop, Reason: reason,
		Uptime: history.Duration(time.Since(p.Started())), SignalsSent: rep.SignalsSent,
		Killed: rep.Killed, StopDuration: history.Duration(rep.Duration), Evidence: ev, Capture: c.captured,
	}
	var ended, lastExit string
	exitCode := -1
	if rep.Err != nil {
		// Not dead after SIGKILL (D state): its processes stay in their
		// cgroup, and its exit is still collected by the run loop; the
		// next start waits until they are gone (see holdStart).
		c.linger(p, rep.Exit.PID != 0)
		rec.Message = rep.Err.Error()
		ended, lastExit = "lingering", "not reaped: "+rep.Err.Error()
	} else {
		c.sup.own.release(p.Cgroup())
		rec.Uptime = history.Duration(rep.Exit.At.Sub(p.Started()))
		rec.Signal, rec.ExitCode = rep.Exit.SignalOrCode()
		ended, lastExit, exitCode = rep.EndedBy(), rep.Exit.String(), rep.Exit.ShellCode()
	}
	c.update(func(s *ChildStatus) { s.ended(reason, lastExit, exitCode) })
	c.setState(Stopped)
	c.sup.record(c.log.Info().Str("ended_by", ended), rec)
	return rep
}

// restart stops the process and starts it again: at once when an operator
// or a reload asked, after the backoff when a health verdict did (a child
// that keeps leaking should not be restarted in a tight loop).
func (c *child) restart(reason history.Reason, ev *health.Evidence, useBackoff bool) StopReport {
	if c.surgeWanted() {
		return c.surge(reason, ev)
	}
	uptime := time.Since(c.proc.Started())
	rep := c.stop(reason, ev)
	if rep.DryRun {
		return rep
	}
	var delay time.Duration
	if useBackoff {
		delay = c.tracker.nextDelay(c.spec.Backoff, uptime)
	}
	c.sup.record(c.log.Info(), history.Record{Child: c.spec.Name, PID: rep.PID, Event: history.EventRestart, Reason: reason,
		Backoff: history.Duration(delay), Restarts: c.attempts, Evidence: ev, Capture: c.captured})
	c.backoff(delay)
	return rep
}

// unhealthy acts on a health verdict: record it, ask the before-restart
// hook, and restart through the stop path unless the hook vetoes. After a
// veto the child's verdicts are not acted on for the veto cooldown, so
// the hook is not asked (and the veto not recorded) at every scan. In a
// dry run, or for a check in observe mode, a verdict is recorded once per
// process and reason, as would_restart. A member of a [[group]] whose
// budget is spent waits, up and judged again at each scan; the wait is
// recorded once (again when what holds it changes), as deferred.
func (c *child) unhealthy(v verdict) {
	if c.proc == nil || c.mainPIDNow() != v.pid || c.status().State != Running {
		return // a stale verdict, or not judged while starting, stopping or in backoff
	}
	if time.Now().Before(c.quietUntil) {
		return
	}
	ev := v.evidence
	reason := history.Reason(ev.Reason)
	log := c.log.Warn().Str("evidence", ev.Summary())
	rec := history.Record{Child: c.spec.Name, PID: c.proc.PID(), Event: history.EventUnhealthy, Reason: reason, Evidence: ev}
	once := strconv.Itoa(c.proc.PID()) + " " + string(reason) // one record per process and reason
	if why := c.notActing(ev.Reason); why != "" {
		if c.reported != once {
			c.reported = once
			rec.Event, rec.Message = history.EventWouldRestart, why
			c.sup.record(log, rec)
		}
		return
	}
	ok, group, why, fl := c.sup.admitRestart(c, c.proc.PID(), reason)
	rec.Fleet = fl
	if !ok {
		// Held back by the group's budget: the child stays up, and the
		// next scan judges it again. The wait is recorded again when
		// what holds it changes (the fleet budget, then etcd
		// unreachable with unreachable = "hold").
		waitKey := once
		if fl != nil {
			waitKey += " fleet " + fl.Fallback
		}
		if c.deferred != waitKey {
			c.deferred = waitKey
			rec.Event, rec.Message, rec.Group = history.EventDeferred, why, group.Name
			c.sup.record(log, rec)
		} else {
			c.log.Debug().Msg("restart still deferred: " + why)
		}
		return
	}
	c.update(func(s *ChildStatus) { s.LastReason = reason })
	if group != nil {
		rec.Group = group.Name
	}
	c.sup.record(log, rec)
	if err := c.runHook(ev); err != nil {
		var veto *proc.VetoError
		if errors.As(err, &veto) {
			c.sup.releaseRestart(c)
			cool := c.spec.Health.Cooldown()
			c.quietUntil = time.Now().Add(cool)
			c.sup.record(c.log.Warn(), history.Record{Child: c.spec.Name, PID: c.proc.PID(), Event: history.EventVeto, Reason: reason,
				Message: fmt.Sprintf("%v; verdicts not acted on for %s", err, cool)})
			return
		}
		c.log.Error().Err(err).Msg("before_restart hook failed to run; restarting anyway")
	}
	c.captured = c.capture(ev)
	c.restart(reason, ev, true)
	c.captured = ""
}

// notActing says why a verdict for check is not acted on ("" when it is):
// a dry run, or the check in observe mode.
func (c *child) notActing(check health.Reason) string {
	switch {
	case c.sup.opts.DryRun:
		return "dry run: not restarted"
	case c.spec.Health.Observe[check]:
		return "observe mode: not restarted"
	}
	return ""
}

// runHook runs the child's before_restart hook, if it has one.
func (c *child) runHook(ev *health.Evidence) error {
	hk := c.spec.Health.BeforeRestart
	if len(hk.Command) == 0 {
		return nil
	}
	path, err := program(hk.Command, c.spec.Dir)
	if err != nil {
		return err
	}
	h := proc.Hook{Command: proc.Command{
		Path: path, Args: hk.Command, Dir: c.spec.Dir, Env: c.spec.Env, ClearEnv: c.spec.ClearEnv,
		ExtraEnv: health.HookEnv(c.spec.Name, c.proc.PID(), ev), Cgroup: c.proc.Cgroup(),
	}, Timeout: hk.Timeout}
	err = proc.RunHook(context.Background(), c.sup.reaper, h, c.log.With().Str("hook", "before_restart").Logger())
	if err == nil {
		c.log.Info().Msg("before_restart hook agreed")
	}
	return err
}

// ended records in the status that the child's process is gone: why, and
// how it ended. Its figures (pid, start, cgroup, health) were those of a
// live process, so they go.
func (s *ChildStatus) ended(reason history.Reason, lastExit string, exitCode int) {
	s.PID, s.Started, s.Cgroup = 0, time.Time{}, ""
	s.LastReason, s.LastExit, s.LastExitCode = reason, lastExit, exitCode
	s.Health, s.HealthAt = health.Result{}, time.Time{}
}
