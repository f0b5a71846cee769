//go:build linux

package control

import (
	"context"
	"strings"
	"syscall"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/signame"
	"github.com/resreap/resreap/supervisor"
)

// Adapt exposes a supervisor over the control socket: it turns the
// supervisor's types into the wire types of the protocol.
func Adapt(s *supervisor.Supervisor) Handler { return adapter{s} }

type adapter struct{ s *supervisor.Supervisor }

func (h adapter) Status() []ChildStatus {
	var out []ChildStatus
	for _, st := range h.s.Status() {
		out = append(out, toControlStatus(st))
	}
	return out
}

func toControlStatus(st supervisor.ChildStatus) ChildStatus {
	cs := ChildStatus{
		Name: st.Name, State: strings.ToLower(st.State.String()), PID: st.PID, Since: st.Since,
		Restarts: st.Restarts, LastReason: string(st.LastReason),
		CloseWait: st.Health.CloseWait, FDs: st.Health.FDs.Open, FDLimit: st.Health.FDs.Limit,
	}
	if st.PID != 0 {
		cs.Uptime = history.Duration(time.Since(st.Since))
	}
	return cs
}

func (h adapter) Start(ctx context.Context, name string) (ChildStatus, error) {
	st, err := h.s.StartChild(ctx, name)
	if err != nil {
		return ChildStatus{}, err
	}
	return toControlStatus(st), nil
}

func (h adapter) Stop(ctx context.Context, name string) (StopReport, error) {
	rep, err := h.s.StopChild(ctx, name)
	return toControlStop(name, rep), err
}

func (h adapter) Restart(ctx context.Context, name string) (StopReport, error) {
	rep, err := h.s.RestartChild(ctx, name)
	return toControlStop(name, rep), err
}

func toControlStop(name string, rep *supervisor.StopReport) StopReport {
	cr := StopReport{Child: name}
	if rep == nil {
		return cr
	}
	cr.PID, cr.SignalsSent, cr.Killed, cr.Duration = rep.PID, rep.SignalsSent, rep.Killed, history.Duration(rep.Duration)
	if sig, ok := rep.Exit.Signal(); ok {
		cr.Signal = signame.Name(sig)
	} else if code, ok := rep.Exit.Code(); ok {
		cr.ExitCode = &code
	}
	return cr
}

func (h adapter) Reload(ctx context.Context) (ReloadReport, error) {
	rep, err := h.s.ReloadFile(ctx)
	return ReloadReport(rep), err
}

func (h adapter) Signal(name string, sig syscall.Signal, mainOnly bool) error {
	return h.s.SignalChild(context.Background(), name, sig, mainOnly)
}
