//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"reflect"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

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
