package supervisor

import (
	"context"
	"strings"
	"syscall"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/signame"
	"github.com/resreap/resreap/supervisor/control"
)

// ControlHandler exposes the supervisor over the control socket.
func (s *Supervisor) ControlHandler() control.Handler { return controlHandler{s} }

type controlHandler struct{ s *Supervisor }

func (h controlHandler) Status() []control.ChildStatus {
	var out []control.ChildStatus
	for _, st := range h.s.Status() {
		out = append(out, toControlStatus(st))
	}
	return out
}

func toControlStatus(st ChildStatus) control.ChildStatus {
	cs := control.ChildStatus{
		Name: st.Name, State: strings.ToLower(st.State.String()), PID: st.PID, Since: st.Since,
		Restarts: st.Restarts, LastReason: string(st.LastReason),
		CloseWait: st.Health.CloseWait, FDs: st.Health.FDs.Open, FDLimit: st.Health.FDs.Limit,
	}
	if st.PID != 0 {
		cs.Uptime = history.Duration(time.Since(st.Since))
	}
	return cs
}

func (h controlHandler) Start(ctx context.Context, name string) (control.ChildStatus, error) {
	if err := h.s.StartChild(ctx, name); err != nil {
		return control.ChildStatus{}, err
	}
	return toControlStatus(h.s.child(name).status()), nil
}

func (h controlHandler) Stop(ctx context.Context, name string) (control.StopReport, error) {
	rep, err := h.s.StopChild(ctx, name)
	return toControlStop(name, rep), err
}

func (h controlHandler) Restart(ctx context.Context, name string) (control.StopReport, error) {
	rep, err := h.s.RestartChild(ctx, name)
	return toControlStop(name, rep), err
}

func toControlStop(name string, rep *StopReport) control.StopReport {
	cr := control.StopReport{Child: name}
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

func (h controlHandler) Reload(ctx context.Context) (control.ReloadReport, error) {
	rep, err := h.s.ReloadFile(ctx)
	return control.ReloadReport(rep), err
}

func (h controlHandler) Signal(name string, sig syscall.Signal) error {
	return h.s.SignalChild(context.Background(), name, sig)
}

// ReloadFile re-reads the configuration file the supervisor was started
// with and applies it. An invalid file changes nothing: the error (with
// file:line of every problem) is logged and returned.
func (s *Supervisor) ReloadFile(ctx context.Context) (ReloadReport, error) {
	s.mu.Lock()
	path := s.cfg.Path
	s.mu.Unlock()
	cfg, err := config.Load(path)
	if err != nil {
		s.log.Error().Err(err).Msg("reload rejected; children keep running with the old configuration")
		return ReloadReport{}, err
	}
	return s.Reload(ctx, cfg)
}
