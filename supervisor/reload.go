//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

// ReloadReport lists what a reload did: children started, stopped,
// restarted (a key of their process changed), updated in place (only how
// they are supervised changed) and left alone; Changes names the keys
// that changed, by child.
type ReloadReport struct {
	Started, Stopped, Restarted, Updated, Unchanged []string
	Changes                                         map[string][]string
}

// ErrNotSupervising is a reload refused because resreap is shutting down
// (or never started).
var ErrNotSupervising = errors.New("resreap is shutting down: reload refused")

// Reload applies a new, already validated configuration: children that are
// new start, children that are gone stop, children whose process keys
// changed (command, env, user, limits...) restart with the new spec, those
// where only supervision keys changed (backoff, stop, health, ...) get
// them without a restart, and the rest are not touched. Changes to the
// [supervisor] table take effect at the next start of resreap.
func (s *Supervisor) Reload(ctx context.Context, cfg *config.Config) (ReloadReport, error) {
	select { // one that comes while Run starts up waits for it
	case <-s.ready:
	case <-s.runDone:
		return ReloadReport{}, ErrNotSupervising
	case <-ctx.Done():
		return ReloadReport{}, ctx.Err()
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	if s.closing || s.ctx == nil {
		s.mu.Unlock()
		s.log.Warn().Msg("reload ignored: resreap is shutting down")
		return ReloadReport{}, ErrNotSupervising
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
		s.child(spec.Name).call(ctx, request{kind: reqUpdate, spec: &spec}) //nolint:errcheck // logged by the child
	}
	s.startAll(added)
	s.record(s.log.Info(), history.Record{Event: history.EventReload, Reason: history.ReasonReload, Message: rep.String()})
	return rep, nil
}

// String says what a reload did on one line:
//
//	started api; stopped old; restarted fe (command, env); updated db (health.interval); 2 unchanged
func (r ReloadReport) String() string {
	var parts []string
	for _, p := range []struct {
		verb  string
		names []string
	}{{"started", r.Started}, {"stopped", r.Stopped}, {"restarted", r.Restarted}, {"updated", r.Updated}} {
		if len(p.names) == 0 {
			continue
		}
		names := make([]string, len(p.names))
		for i, n := range p.names {
			names[i] = n
			if keys := r.Changes[n]; len(keys) > 0 {
				names[i] += " (" + strings.Join(keys, ", ") + ")"
			}
		}
		parts = append(parts, p.verb+" "+strings.Join(names, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "no change")
	}
	if n := len(r.Unchanged); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", n))
	}
	return strings.Join(parts, "; ")
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
		default:
			keys, restart := prev.Diff(spec)
			switch {
			case len(keys) == 0:
				rep.Unchanged = append(rep.Unchanged, spec.Name)
				continue
			case restart:
				rep.Restarted = append(rep.Restarted, spec.Name)
			default:
				rep.Updated = append(rep.Updated, spec.Name)
			}
			changed = append(changed, spec)
			if rep.Changes == nil {
				rep.Changes = map[string][]string{}
			}
			rep.Changes[spec.Name] = keys
		}
	}
	return rep, added, changed
}

// ReloadFile re-reads the configuration file the supervisor was started
// with and applies it. An invalid file, or one with a path another user
// could turn into a root write (config.CheckPaths), changes nothing: the
// error (with file:line of every problem) is logged and returned.
func (s *Supervisor) ReloadFile(ctx context.Context) (ReloadReport, error) {
	s.mu.Lock()
	path := s.cfg.Path
	s.mu.Unlock()
	cfg, err := config.Load(path)
	if err == nil {
		err = config.CheckPaths(cfg) // refused as `resreap run` refuses them
	}
	if err != nil {
		s.log.Error().Err(err).Msg("reload rejected; children keep running with the old configuration")
		return ReloadReport{}, err
	}
	return s.Reload(ctx, cfg)
}
