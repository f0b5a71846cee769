package supervisor

import (
	"context"
	"fmt"
	"reflect"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

// Status returns a snapshot of every child, sorted by name. It never waits
// for a child's goroutine, so it answers while a child is stopping.
func (s *Supervisor) Status() []ChildStatus {
	var out []ChildStatus
	for _, c := range s.childList() {
		out = append(out, c.status())
	}
	return out
}

func (s *Supervisor) lookup(name string) (*child, error) {
	if c := s.child(name); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownChild, name)
}

// StartChild starts a stopped, exited or fatal child (clearing its failure
// count), or one waiting in backoff. A running child is left alone.
func (s *Supervisor) StartChild(ctx context.Context, name string) error {
	c, err := s.lookup(name)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, request{kind: reqStart, reason: history.ReasonManual})
	return err
}

// StopChild stops a child through its escalation chain and returns when it
// has been reaped; it is not restarted until started again. The report is
// nil when the child was not running.
func (s *Supervisor) StopChild(ctx context.Context, name string) (*StopReport, error) {
	c, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	r, err := c.call(ctx, request{kind: reqStop, reason: history.ReasonManual})
	return r.stop, err
}

// RestartChild stops a child through its escalation chain and starts it
// again at once. The report is nil when the child was not running.
func (s *Supervisor) RestartChild(ctx context.Context, name string) (*StopReport, error) {
	c, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	r, err := c.call(ctx, request{kind: reqRestart, reason: history.ReasonManual})
	return r.stop, err
}

// SignalChild sends sig to the child's process group.
func (s *Supervisor) SignalChild(ctx context.Context, name string, sig unix.Signal) error {
	c, err := s.lookup(name)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, request{kind: reqSignal, signal: sig})
	return err
}

// ForceKill sends SIGKILL to the process group of every live child at once
// (a second interrupt during shutdown). The children's goroutines then see
// the exits as usual.
func (s *Supervisor) ForceKill() {
	for _, c := range s.childList() {
		if st := c.status(); st.PID != 0 && st.State.alive() {
			s.log.Warn().Str("child", c.name).Int("pid", st.PID).Msg("forced kill")
			unix.Kill(-st.PID, unix.SIGKILL) //nolint:errcheck // ESRCH: already gone
		}
	}
}

// ReloadReport lists what a reload did.
type ReloadReport struct {
	Started, Stopped, Restarted, Unchanged []string
}

// Reload applies a new, already validated configuration: children that are
// new start, children that are gone stop, children whose spec changed
// restart with the new spec, and the rest are not touched. Changes to the
// [supervisor] table take effect at the next start of resreap.
func (s *Supervisor) Reload(ctx context.Context, cfg *config.Config) (ReloadReport, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	if s.closing || s.ctx == nil {
		s.mu.Unlock()
		return ReloadReport{}, ErrNotRunning
	}
	old := s.cfg
	s.cfg = cfg
	s.mu.Unlock()
	if !reflect.DeepEqual(old.Supervisor, cfg.Supervisor) {
		s.log.Warn().Msg("reload: changes to [supervisor] take effect when resreap restarts")
	}
	rep, added, changed := s.reloadPlan(old, cfg)
	kept := map[string]bool{}
	for _, spec := range cfg.Children {
		kept[spec.Name] = true
	}
	rep.Stopped = s.stopInReverse(ctx, old.Children, func(name string) bool { return !kept[name] }, history.ReasonReload)
	for _, name := range rep.Stopped {
		s.removeChild(name)
	}
	for _, spec := range changed {
		s.child(spec.Name).call(ctx, request{kind: reqUpdate, spec: &spec, reason: history.ReasonReload}) //nolint:errcheck // logged by the child
	}
	s.startAll(ctx, added)
	s.record(s.log.Info(), history.Record{Event: history.EventReload, Reason: history.ReasonReload,
		Message: fmt.Sprintf("started %v, stopped %v, restarted %v", rep.Started, rep.Stopped, rep.Restarted)})
	return rep, nil
}

// reloadPlan sorts the children of cfg into new ones (added), changed ones
// and unchanged ones, against old.
func (s *Supervisor) reloadPlan(old, cfg *config.Config) (rep ReloadReport, added, changed []config.ChildSpec) {
	oldSpecs := map[string]config.ChildSpec{}
	for _, c := range old.Children {
		oldSpecs[c.Name] = c
	}
	for _, spec := range cfg.Children {
		prev, ok := oldSpecs[spec.Name]
		switch {
		case !ok || s.child(spec.Name) == nil:
			added = append(added, spec)
			rep.Started = append(rep.Started, spec.Name)
		case !specEqual(&prev, &spec):
			changed = append(changed, spec)
			rep.Restarted = append(rep.Restarted, spec.Name)
		default:
			rep.Unchanged = append(rep.Unchanged, spec.Name)
		}
	}
	return rep, added, changed
}

func specEqual(a, b *config.ChildSpec) bool { return reflect.DeepEqual(a, b) }
