//go:build linux

package control

import (
	"context"
	"strings"
	"syscall"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/supervisor"
)

// Adapt exposes a supervisor over the control socket: it turns the
// supervisor's types into the wire types of the protocol.
func Adapt(s *supervisor.Supervisor) Handler { return adapter{s} }

type adapter struct{ s *supervisor.Supervisor }

func (h adapter) Status() (Supervisor, []ChildStatus) {
	in := h.s.Info()
	sup := Supervisor{PID: in.PID, Started: in.Started, Ownership: in.Ownership, OwnershipDetail: in.OwnershipDetail,
		DryRun: in.DryRun, OutputLost: in.OutputLost, HistoryDropped: in.HistoryDropped, HistoryFailed: in.HistoryFailed,
		HistoryPending: in.HistoryPending, CgroupMissing: in.CgroupMissing,
		HealthSource: in.HealthSource.Name, HealthSourceWhy: in.HealthSource.Why, Starting: in.Starting}
	var out []ChildStatus
	for _, st := range h.s.Status() {
		cs := toControlStatus(st)
		sup.Children++
		if cs.Up {
			sup.Up++
		}
		out = append(out, cs)
	}
	return sup, out
}

func toControlStatus(st supervisor.ChildStatus) ChildStatus {
	now := time.Now()
	cs := ChildStatus{
		Name: st.Name, State: strings.ToLower(st.State.String()), Since: st.Since, StateFor: history.Duration(now.Sub(st.Since)),
		Up: st.Up(), Ready: st.Ready, PID: st.PID, Restarts: st.Restarts, LastReason: string(st.LastReason), LastExit: st.LastExit,
		WaitingFor: st.WaitingFor, OutputTail: st.LastOutput,
	}
	if st.PID == 0 {
		return cs // no live process: no figures
	}
	cs.Started, cs.Uptime = st.Started, history.Duration(now.Sub(st.Started))
	if !st.HealthAt.IsZero() {
		r := st.Health
		cs.ScannedAt = st.HealthAt
		cs.CloseWait = &CloseWait{Now: r.CloseWaitNow, Persistent: r.CloseWait}
		if r.FDs.PID != 0 {
			cs.FDs = &FDs{PID: r.FDs.PID, Open: r.FDs.Open, Limit: r.FDs.Limit}
		}
	}
	if st.Cgroup != "" {
		cs.Cgroup = &Cgroup{Path: st.Cgroup}
		if u := st.Usage; u != nil {
			cs.Cgroup.CPU = history.Duration(u.CPUUsage)
			if u.HasMemory {
				cs.Cgroup.Memory = &u.MemoryCurrent
			}
			if u.HasPids {
				cs.Cgroup.Pids = &u.PidsCurrent
			}
		}
	}
	return cs
}

func (h adapter) Start(ctx context.Context, name string, wait time.Duration) (ChildStatus, error) {
	st, err := h.s.StartChild(ctx, name, wait)
	if err != nil {
		return ChildStatus{}, err
	}
	return toControlStatus(st), nil
}

func (h adapter) Stop(ctx context.Context, name string) (StopReport, error) {
	rep, err := h.s.StopChild(ctx, name)
	return toControlStop(name, rep), err
}

func (h adapter) Restart(ctx context.Context, name string, wait time.Duration) (StopReport, error) {
	rep, st, err := h.s.RestartChild(ctx, name, wait)
	cr := toControlStop(name, rep)
	if err == nil {
		started := toControlStatus(st)
		cr.Started = &started
	}
	return cr, err
}

func toControlStop(name string, rep *supervisor.StopReport) StopReport {
	cr := StopReport{Child: name}
	if rep == nil {
		return cr
	}
	cr.PID, cr.SignalsSent, cr.Killed, cr.Duration = rep.PID, rep.SignalsSent, rep.Killed, history.Duration(rep.Duration)
	cr.Signal, cr.ExitCode = rep.Exit.SignalOrCode()
	return cr
}

func (h adapter) Reload(ctx context.Context) (ReloadReport, error) {
	rep, err := h.s.ReloadFile(ctx)
	return ReloadReport(rep), err
}

func (h adapter) Signal(ctx context.Context, name string, sig syscall.Signal, mainOnly bool) error {
	return h.s.SignalChild(ctx, name, sig, mainOnly)
}
