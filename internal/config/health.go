//go:build linux

package config

import (
	"maps"

	"github.com/resreap/resreap/health"
)

// health validates a [health] table into h. The ignore list is parsed here,
// once, with the parser the scan uses, so the check and the scan can never
// disagree.
func (v *validator) health(key string, f *fileHealth, h *HealthSpec) {
	v.duration(key+".interval", f.Interval, &h.Interval, rangeHealthInterval)
	if cw := f.CloseWait; cw != nil {
		k := key + ".close_wait"
		p := &h.Policy.CloseWait
		if cw.Enabled != nil {
			p.Disabled = !*cw.Enabled
		}
		v.mode(k+".mode", cw.Mode, health.ReasonCloseWait, h)
		intIn(v, k+".threshold", cw.Threshold, &p.Threshold, rangeThreshold)
		intIn(v, k+".persist", cw.Persist, &p.Persist, rangePersist)
		if cw.IgnoreForeign != nil {
			ign, err := health.ParseIgnore(cw.IgnoreForeign)
			if err != nil {
				v.add(k+".ignore_foreign", "%v", err)
			}
			p.Ignore = ign
		}
	}
	if fd := f.FDs; fd != nil {
		k := key + ".fds"
		p := &h.Policy.FDs
		if fd.Enabled != nil {
			p.Disabled = !*fd.Enabled
		}
		v.mode(k+".mode", fd.Mode, health.ReasonFDExhaustion, h)
		floatIn(v, k+".max_ratio", fd.MaxRatio, &p.MaxRatio, rangeMaxRatio)
		intIn(v, k+".max_open", fd.MaxOpen, &p.MaxOpen, rangeMaxOpen)
		intIn(v, k+".persist", fd.Persist, &p.Persist, rangePersist)
		v.duration(k+".predict", fd.Predict, &p.Predict, rangePredict)
	}
	v.duration(key+".veto_cooldown", f.VetoCooldown, &h.VetoCooldown, rangeVetoCooldown)
	if hk := f.BeforeRestart; hk != nil {
		k := key + ".before_restart"
		h.BeforeRestart.Command = hk.Command
		if hk.Command != nil && (len(hk.Command) == 0 || hk.Command[0] == "") {
			v.add(k+".command", "empty command")
		}
		v.argv(k+".command", hk.Command)
		v.duration(k+".timeout", hk.Timeout, &h.BeforeRestart.Timeout, rangeHookTimeout)
	}
}

// Modes of a check.
const (
	ModeEnforce = "enforce" // act on verdicts (the default)
	ModeObserve = "observe" // record them as would_restart, act on none
)

// mode reads a check's mode into h.Observe.
func (v *validator) mode(key string, m *string, check health.Reason, h *HealthSpec) {
	switch {
	case m == nil, *m == ModeEnforce:
		delete(h.Observe, check)
	case *m == ModeObserve:
		h.Observe = maps.Clone(h.Observe) // the map may be the defaults'
		if h.Observe == nil {
			h.Observe = map[health.Reason]bool{}
		}
		h.Observe[check] = true
	default:
		v.add(key, "must be %q or %q, not %q", ModeEnforce, ModeObserve, *m)
	}
}
