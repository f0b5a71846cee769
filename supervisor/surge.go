//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
)

// A surge restart (restart_mode = "surge") starts generation N+1 in a
// leaf of its own, with the same held sockets, beside generation N; once
// N+1 is ready (its own READY=1, a probe aimed at it with {pid} or
// {generation}, an exec probe in its cgroup, or start_seconds up without
// a probe) N is stopped with its stop signals and escalation, and drains
// on the first. The listening sockets never close, so no connection is
// refused: until N+1 accepts, N does.
//
// If N+1 is not ready within start_timeout (or exits first) it is
// stopped, N keeps serving, and it counts as a failed start: health
// verdicts wait out the backoff (or, past the start limit, the start
// limit's interval) before the next surge. An operator's restart is
// tried again whenever asked.
//
// The surge runs on the child's goroutine, as a stop does: requests wait
// for it (status does not), verdicts that came meanwhile are about the
// old generation and are dropped (see unhealthy), and a reload restarts
// the copies of a child one at a time, each surge done before the next.

// surgeWanted reports whether the restart of the child's running process
// is a surge.
func (c *child) surgeWanted() bool {
	return c.spec.Surge() && !c.sup.opts.DryRun && c.proc != nil
}

// surge restarts the child as above for reason (ev: the verdict, if one)
// and returns the report of the old generation's stop; an empty one when
// the new generation did not become ready and the old one still runs.
func (c *child) surge(reason history.Reason, ev *health.Evidence) StopReport {
	defer c.sup.releaseSurge(c)
	old, oldPID := c.proc, c.mainPIDNow()
	oldRef := genRef{pid: oldPID, leaf: old.Cgroup().Path()}
	c.cancelTimer()
	c.attempts++
	restarts := c.attempts - 1
	c.update(func(s *ChildStatus) {
		if s.RestartsBy == nil {
			s.RestartsBy = map[history.Reason]int{}
		}
		s.LastReason = reason
		s.RestartsBy[reason]++
	})
	p, err := c.spawn()
	if err != nil {
		c.log.Error().Err(err).Strs("command", c.spec.Command).Msg("surge: start failed")
		return c.surgeFailed(nil, nil, history.ReasonStartFailed, err.Error())
	}
	tail := tailOf(p)
	for i, f := range p.Outputs() {
		if f != nil {
			c.sup.copyOutput(f, c, i == 1, tail)
		}
	}
	c.setGens(oldRef, genRef{pid: p.PID(), leaf: p.Cgroup().Path()})
	c.setOverlap(true)
	c.sup.record(c.log.Info(), history.Record{Child: c.spec.Name, PID: p.PID(), Event: history.EventStart, Restarts: restarts,
		Message: fmt.Sprintf("surge: beside pid %d, which serves until this one is ready", oldPID)})
	began := time.Now()
	ready, why, mainPID := c.awaitSurge(p)
	if !ready {
		c.stopNew(p)
		c.setGens(oldRef)
		c.setOverlap(false)
		return c.surgeFailed(p, tail, history.ReasonNotReady, why)
	}
	took := time.Since(began).Round(time.Millisecond)
	// The new generation is the child's from here: status, health and
	// notify messages follow it while the old one drains.
	oldFollow := c.follow
	c.follow = nil
	c.endProbe()
	c.setProc(p)
	c.tail = tail
	c.mainPID = mainPID
	c.gen = c.nextGen
	c.update(func(s *ChildStatus) {
		s.PID, s.Started, s.Restarts, s.Cgroup = p.PID(), p.Started(), restarts, p.Cgroup().Path()
	})
	if c.spec.Liveness.Failures > 0 && c.spec.Ready.Enabled() && !c.spec.Ready.Notify {
		c.startProbe(p)
	}
	c.running("surge: ready after " + took.String())
	rep := c.stopOld(old, oldFollow, reason, ev)
	c.setGens(genRef{pid: p.PID(), leaf: p.Cgroup().Path()})
	c.setOverlap(false)
	c.sup.record(c.log.Info(), history.Record{Child: c.spec.Name, PID: oldPID, Event: history.EventRestart, Reason: reason,
		Restarts: c.attempts, Evidence: ev, Capture: c.captured,
		Message: fmt.Sprintf("surge: pid %d ready after %s, then pid %d stopped (%s)", p.PID(), took, oldPID, rep.EndedBy())})
	return rep
}

// awaitSurge waits until the new generation p is ready, and says why not
// when it is not (it exited, start_timeout passed, shutdown began). It
// returns the successor p named with MAINPID= meanwhile, if any. The old
// generation may exit meanwhile: its exit is recorded, and the child
// then has only p.
func (c *child) awaitSurge(p *proc.Process) (ready bool, why string, mainPID int) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	var probes chan probeResult
	wait := c.spec.StartTimeout
	switch {
	case c.spec.Ready.Notify:
	case c.spec.Ready.Enabled():
		probes = make(chan probeResult)
		spec := c.spec
		spec.Ready = expandProbe(spec.Ready, p.PID(), c.nextGen)
		spec.Liveness.Failures = 0 // readiness only; liveness starts once it is the child's
		c.probing.Go(func() { prober(ctx, &spec, p, c.sup.reaper, c.log, probes) })
		wait = spec.StartTimeout + spec.Ready.Timeout // the prober's own timeout comes first
	default:
		wait = c.spec.StartGrace
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		var oldExit <-chan proc.ExitStatus
		if c.proc != nil && c.follow == nil {
			oldExit = c.proc.Exit()
		}
		select {
		case ex := <-p.Exit():
			c.killRemains(p)
			return false, "exited before it was ready: " + ex.String(), 0
		case ex := <-oldExit:
			c.oldExitedInSurge(ex)
		case <-c.followExit():
			c.oldFollowExitedInSurge()
		case <-timer.C:
			if !c.spec.Ready.Enabled() {
				return true, "", mainPID
			}
			return false, fmt.Sprintf("not ready within %s (%s)", c.spec.StartTimeout, c.spec.Ready), 0
		case r := <-probes:
			switch {
			case r.ready:
				return true, "", mainPID
			case r.timedOut:
				return false, fmt.Sprintf("not ready within %s (%s); last probe: %v", c.spec.StartTimeout, c.spec.Ready, r.err), 0
			}
		case n := <-c.notices:
			if n.gen != p.PID() {
				c.noticed(n) // about the old generation
				continue
			}
			if m, err := strconv.Atoi(n.vars["MAINPID"]); err == nil && m > 0 {
				mainPID = m
			}
			if n.vars["READY"] == "1" && c.spec.Ready.Notify {
				return true, "", mainPID
			}
		case <-ctx.Done():
			return false, "resreap is shutting down", 0
		}
	}
}

// oldExitedInSurge records the exit of the old generation's main process
// during a surge: nothing is restarted for it, the new generation is
// about to take over (or, if it fails, the child starts again after the
// backoff).
func (c *child) oldExitedInSurge(ex proc.ExitStatus) {
	p := c.proc
	if c.followSuccessor(p, ex) {
		return
	}
	if p.Cgroup() != (cgroup.Group{}) && !c.killRemains(p) {
		c.linger(p, true)
	}
	c.setProc(nil)
	rec := history.Record{Child: c.spec.Name, PID: p.PID(), Event: history.EventExit, Reason: history.ReasonExited,
		Uptime: history.Duration(ex.At.Sub(p.Started())), Message: "exited during a surge, before the new generation was ready"}
	rec.Signal, rec.ExitCode = ex.SignalOrCode()
	c.sup.record(c.log.Warn(), rec)
}

// oldFollowExitedInSurge is oldExitedInSurge for a followed successor.
func (c *child) oldFollowExitedInSurge() {
	f := c.follow
	c.unfollow()
	p := c.proc
	if !c.killRemains(p) {
		c.linger(p, true)
	}
	c.setProc(nil)
	c.sup.record(c.log.Warn(), history.Record{Child: c.spec.Name, PID: f.pid, Event: history.EventExit, Reason: history.ReasonExited,
		Uptime: history.Duration(time.Since(f.since)), Message: "exited during a surge, before the new generation was ready"})
}

// stopNew stops a new generation that did not become ready.
func (c *child) stopNew(p *proc.Process) {
	select {
	case ex := <-p.Exit():
		c.killRemains(p)
		c.log.Info().Int("pid", p.PID()).Str("status", ex.String()).Msg("surge: the new generation exited")
		return
	default:
	}
	rep := stopProcess(p, c.spec.Stop, false, c.log)
	c.sup.own.noteFaults(c.log, "the stop of a new generation", rep.Faults)
	if rep.Err != nil {
		c.linger(p, rep.Exit.PID != 0)
		return
	}
	c.sup.own.release(p.Cgroup())
}

// stopOld stops the old generation once the new one is ready, and
// records its stop; f is the successor it was followed as, if any.
func (c *child) stopOld(old *proc.Process, f *followed, reason history.Reason, ev *health.Evidence) StopReport {
	if old == nil {
		return StopReport{}
	}
	var rep StopReport
	if f != nil {
		saved := c.follow
		c.follow = f
		rep = c.stopFollowed(old)
		c.follow = saved
	} else {
		rep = stopProcess(old, c.spec.Stop, false, c.log)
	}
	c.sup.own.noteFaults(c.log, "the stop of the old generation", rep.Faults)
	rec := history.Record{
		Child: c.spec.Name, PID: rep.PID, Event: history.EventStop, Reason: reason,
		Uptime: history.Duration(time.Since(old.Started())), SignalsSent: rep.SignalsSent,
		Killed: rep.Killed, StopDuration: history.Duration(rep.Duration), Evidence: ev, Capture: c.captured,
		Message: "surge: the old generation, after the new one was ready",
	}
	if rep.Err != nil {
		c.linger(old, rep.Exit.PID != 0)
		rec.Message += "; " + rep.Err.Error()
	} else {
		c.sup.own.release(old.Cgroup())
		rec.Signal, rec.ExitCode = rep.Exit.SignalOrCode()
	}
	c.sup.record(c.log.Info().Str("ended_by", rep.EndedBy()), rec)
	return rep
}

// surgeFailed records a surge whose new generation p (nil: never
// started) failed, as a failed start: the old generation keeps serving,
// and verdicts wait for the backoff, or past the start limit for its
// interval. When the old generation exited meanwhile, the child is
// started again after the backoff like after any failed start.
func (c *child) surgeFailed(p *proc.Process, tail *outputTail, reason history.Reason, why string) StopReport {
	msg := "surge: " + why
	rec := history.Record{Child: c.spec.Name, Event: history.EventStart, Reason: reason, Restarts: c.attempts - 1,
		OutputTail: tail.read(&c.spec)}
	if p != nil {
		rec.PID = p.PID()
	}
	c.update(func(s *ChildStatus) { s.Failures++ })
	if c.proc == nil && c.follow == nil {
		rec.Message = msg + "; the old generation is gone too"
		c.update(func(s *ChildStatus) { s.LastReason, s.LastExit = reason, rec.Message })
		c.failed(rec, 0, true)
		return StopReport{}
	}
	var quiet time.Duration
	if c.tracker.failedStart(c.spec.StartLimit, time.Now()) {
		quiet = c.spec.StartLimit.Interval
		msg += fmt.Sprintf("; more than %d failed starts within %s: no surge for a verdict for %s", c.spec.StartLimit.Burst, c.spec.StartLimit.Interval, quiet)
	} else {
		quiet = c.tracker.nextDelay(c.spec.Backoff, 0)
	}
	c.quietUntil = time.Now().Add(quiet)
	rec.Backoff = history.Duration(quiet)
	rec.Message = msg + "; the old generation (pid " + strconv.Itoa(c.mainPIDNow()) + ") keeps serving"
	c.update(func(s *ChildStatus) { s.LastExit = rec.Message })
	c.sup.record(c.log.Warn(), rec)
	return StopReport{}
}

// expandProbe aims r at one generation: {pid} and {generation} in its
// address become the process's PID and generation number.
func expandProbe(r config.ReadySpec, pid, gen int) config.ReadySpec {
	rep := strings.NewReplacer(config.TmplPID, strconv.Itoa(pid), config.TmplGeneration, strconv.Itoa(gen))
	r.TCP, r.HTTP = rep.Replace(r.TCP), rep.Replace(r.HTTP)
	return r
}

// setOverlap records whether two generations of the child run side by
// side, for the health loop (see healthIDs).
func (c *child) setOverlap(on bool) {
	c.gensMu.Lock()
	defer c.gensMu.Unlock()
	c.overlap = on
}

// healthIDs returns the cgroup ids a health target of the child has
// besides its generation's: its sockets leaf's, which every connection
// accepted on its listeners carries. While two generations overlap
// (a surge) there are none: such a socket may be the old generation's
// or the new one's, and the owner walk (CgroupOnly off) finds which holds
// it.
func (c *child) healthIDs() (ids []uint64, walk bool) {
	c.gensMu.Lock()
	overlap, id := c.overlap, c.socketsID
	c.gensMu.Unlock()
	if id == 0 {
		return nil, false
	}
	if overlap {
		return nil, true
	}
	return []uint64{id}, false
}

// admitSurge asks the group's max_surge whether member c may surge now
// (a health verdict's restart); a child in no group always may. A surge
// takes no slot of max_unavailable, nor of any budget beyond this host:
// the member stays up throughout.
func (s *Supervisor) admitSurge(c *child, g *config.GroupSpec) (bool, string) {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	if s.groups.surging == nil {
		s.groups.surging = map[string]map[string]bool{}
	}
	surging := s.groups.surging[g.Name]
	if surging == nil {
		surging = map[string]bool{}
		s.groups.surging[g.Name] = surging
	}
	if surging[c.name] {
		return true, ""
	}
	if len(surging) >= max(g.MaxSurge, 1) {
		var names []string
		for m := range surging {
			names = append(names, m)
		}
		return false, fmt.Sprintf("group %s: %d of max_surge %d surging: %s", g.Name, len(surging), g.MaxSurge, strings.Join(names, ", "))
	}
	surging[c.name] = true
	return true, ""
}

// releaseSurge ends c's surge in its group's max_surge.
func (s *Supervisor) releaseSurge(c *child) {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	for _, surging := range s.groups.surging {
		delete(surging, c.name)
	}
}
