//go:build linux

package supervisor

import (
	"context"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
)

// recoverOrphans stops what a resreap that died left in the subtree's
// child cgroups (its children were killed by their parent-death signal,
// but not what they forked: nginx workers holding the port, a daemon),
// before any child starts. Each leaf is stopped with its child's
// escalation (or the default one for a child gone from the
// configuration), graceful first, recorded as an orphaned event, and
// removed. Leaves are handled concurrently, so the wait is the longest
// escalation, not the sum.
func (s *Supervisor) recoverOrphans(specs []config.ChildSpec) {
	if !s.own.cgroups() {
		return
	}
	leaves, err := s.own.sub.Leaves()
	if err != nil {
		s.log.Error().Err(err).Msg("cannot list the cgroups a previous resreap left")
		return
	}
	byName := map[string]config.ChildSpec{}
	for _, sp := range specs {
		byName[sp.Name] = sp
	}
	var wg sync.WaitGroup
	for _, l := range leaves {
		s.own.noteGen(l.Child, l.Gen)
		spec, known := byName[l.Child]
		if !known {
			spec = config.DefaultChild()
			spec.Name = l.Child
		}
		wg.Go(func() {
			if l.Gen == 0 {
				s.noteSocketsLeaf(spec.Name, l)
			}
			if len(l.Procs) > 0 && !s.stopOrphans(&spec, l) {
				s.own.hold(l) // the child's first start waits for it
				return
			}
			s.own.release(l.Group)
		})
	}
	s.killStaleSupervisorLeaf()
	wg.Wait()
}

// stopOrphans stops the processes of leaf l and records what they were.
// It reports whether they are gone.
func (s *Supervisor) stopOrphans(spec *config.ChildSpec, l cgroup.Leaf) bool {
	procs := describe(l.Procs)
	log := s.log.With().Str("child", spec.Name).Logger()
	log.Warn().Int("processes", len(procs)).Str("cgroup", l.Group.Path()).
		Msg("found processes left by a previous resreap; stopping them before the start")
	faults := &cgroup.Faults{}
	e := proc.Escalate(context.Background(), proc.CgroupTarget{Cgroup: l.Group, Faults: faults}, stopPlan(spec.Stop))
	for _, err := range e.Undelivered {
		faults.Add(cgroup.HelperSignal, err)
	}
	s.own.noteFaults(log, "the stop of the orphans", faults.List())
	rec := history.Record{
		Child: spec.Name, Event: history.EventOrphaned, Reason: history.ReasonRecovery,
		Processes: procs, SignalsSent: signalsSent(e.SignalsSent), Killed: e.KillSent() && e.Exited,
		StopDuration: history.Duration(e.Duration),
		Message:      plural(len(procs), "process", "processes") + " left by a previous resreap",
	}
	if len(procs) > 0 {
		rec.PID = procs[0].PID
	}
	if e.Err != nil {
		rec.Message += "; not all stopped: " + e.Err.Error()
	}
	s.record(log.Warn(), rec)
	return e.Err == nil
}

// killStaleSupervisorLeaf kills what a dead resreap left in the
// supervisor leaf (a hook it was running), now that this resreap has
// moved in: everything there but itself.
func (s *Supervisor) killStaleSupervisorLeaf() {
	pids, err := s.own.sub.Supervisor().Procs()
	if err != nil {
		return
	}
	for _, pid := range pids {
		if pid == os.Getpid() {
			continue
		}
		// Proven ours: a pidfd opened, then the process found still in
		// this leaf, so a reused PID cannot be hit.
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if cg, err := cgroup.ProcCgroup(pid); err == nil && cg == s.own.sub.Supervisor().Path() {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) //nolint:errcheck // gone already
			s.log.Warn().Int("pid", pid).Msg("killed a process a previous resreap left in its own cgroup")
		}
		unix.Close(fd)
	}
}

// describe names the processes pids for the history: command line and
// how long each has run. A process gone meanwhile is left out.
func describe(pids []int) []history.Proc {
	return historyProcs(proc.Describe(pids))
}

// historyProcs are processes as a record names them, each with how long
// it had run.
func historyProcs(infos []proc.ProcInfo) []history.Proc {
	var out []history.Proc
	for _, in := range infos {
		hp := history.Proc{PID: in.PID, Command: in.Command}
		if !in.Started.IsZero() {
			hp.Uptime = history.Duration(time.Since(in.Started).Round(10 * time.Millisecond))
		}
		out = append(out, hp)
	}
	return out
}
