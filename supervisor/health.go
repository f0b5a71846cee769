package supervisor

import (
	"context"
	"sort"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/supervisor/history"
)

// healthLoop runs the health scan for every Running child. Each child is
// due every health.interval; all children due at the same moment are
// judged by one Scan (one socket dump for all of them), so with the usual
// single interval the whole host costs one dump per tick.
type healthLoop struct {
	sup     *Supervisor
	scanner *health.Scanner
	due     map[string]time.Time
	pids    map[string]int    // pid judged last time, to forget state on restart
	policy  map[string]policy // parsed once per spec
}

type policy struct {
	spec ChildSpec
	pol  health.Policy
}

func newHealthLoop(s *Supervisor, reader string) (*healthLoop, error) {
	sc, err := health.NewScanner(health.ScannerOptions{Reader: reader, Log: s.log.With().Str("component", "health").Logger()})
	if err != nil {
		return nil, err
	}
	s.log.Info().Str("reader", sc.Reader()).Msg("health scan ready")
	return &healthLoop{sup: s, scanner: sc, due: map[string]time.Time{}, pids: map[string]int{}, policy: map[string]policy{}}, nil
}

// healthPolicy converts a child's health spec. The ignore list was
// validated with the config, so a parse error cannot happen here; if it
// did, the list would be empty and the error logged.
func (h *healthLoop) healthPolicy(spec *ChildSpec) health.Policy {
	if p, ok := h.policy[spec.Name]; ok && specEqual(&p.spec, spec) {
		return p.pol
	}
	ign, err := health.ParseIgnore(spec.Health.CloseWait.IgnoreForeign)
	if err != nil {
		h.sup.log.Error().Err(err).Str("child", spec.Name).Msg("ignore_foreign")
	}
	pol := health.Policy{
		CloseWait: health.CloseWaitPolicy{
			Threshold: spec.Health.CloseWait.Threshold, Persist: spec.Health.CloseWait.Persist,
			Ignore: ign, Disabled: !spec.Health.CloseWait.Enabled,
		},
		FDs: health.FDPolicy{
			MaxRatio: spec.Health.FDs.MaxRatio, MaxOpen: spec.Health.FDs.MaxOpen,
			Persist: spec.Health.FDs.Persist, Disabled: !spec.Health.FDs.Enabled,
		},
	}
	h.policy[spec.Name] = policy{spec: *spec, pol: pol}
	return pol
}

func (h *healthLoop) run(ctx context.Context) {
	defer h.scanner.Close()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(h.tick(time.Now()))
	}
}

// tick scans the children that are due and returns the wait until the next
// one is.
func (h *healthLoop) tick(now time.Time) time.Duration {
	children := h.sup.childList()
	var targets []health.Target
	byName := map[string]*child{}
	next := time.Second
	for _, c := range children {
		st := c.status()
		spec := c.specCopy()
		interval := spec.Health.Interval
		if !spec.Health.CloseWait.Enabled && !spec.Health.FDs.Enabled {
			continue
		}
		if st.State != Running || st.PID == 0 {
			h.scanner.Forget(spec.Name)
			delete(h.pids, spec.Name)
			h.due[spec.Name] = now
			if st.State == Starting {
				// Look again soon: the first scan should follow the
				// start grace closely, not a whole interval later.
				next = min(next, 100*time.Millisecond)
			}
			continue
		}
		if due := h.due[spec.Name]; now.Before(due) {
			next = min(next, due.Sub(now))
			continue
		}
		if h.pids[spec.Name] != st.PID {
			h.scanner.Forget(spec.Name)
			h.pids[spec.Name] = st.PID
		}
		h.due[spec.Name] = now.Add(interval)
		next = min(next, interval)
		targets = append(targets, health.Target{Name: spec.Name, PID: st.PID, Descendants: true, Policy: h.healthPolicy(&spec)})
		byName[spec.Name] = c
	}
	if len(targets) == 0 {
		return next
	}
	for _, r := range h.scanner.Scan(targets) {
		c := byName[r.Name]
		c.update(func(s *ChildStatus) { s.Health = r })
		if r.Verdict != nil {
			c.tell(request{kind: reqUnhealthy, evidence: r.Verdict, reason: history.Reason(r.Verdict.Reason)})
		}
	}
	return next
}

// tell hands a request to the child without waiting for an answer. A child
// busy with a stop does not take it within the grace time; the verdict is
// then dropped and the next scan judges again.
func (c *child) tell(req request) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case c.reqs <- req:
	case <-c.done:
	case <-t.C:
		c.log.Debug().Msg("health verdict not delivered: child busy")
	}
}

// childList returns the current children sorted by name.
func (s *Supervisor) childList() []*child {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*child, 0, len(s.children))
	for _, c := range s.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
