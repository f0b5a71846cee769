//go:build linux

package config

import "github.com/resreap/resreap/health"

// health validates a [health] table into h. The ignore list is parsed here,
// once, with the parser the scan uses, so the check and the scan can never
// disagree.
func (v *validator) health(key string, f *fileHealth, h *HealthSpec) {
	v.duration(key+".interval", f.Interval, &h.Interval, false)
	if cw := f.CloseWait; cw != nil {
		k := key + ".close_wait"
		p := &h.Policy.CloseWait
		if cw.Enabled != nil {
			p.Disabled = !*cw.Enabled
		}
		v.positive(k+".threshold", cw.Threshold, &p.Threshold)
		v.positive(k+".persist", cw.Persist, &p.Persist)
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
		if fd.MaxRatio != nil {
			if p.MaxRatio = *fd.MaxRatio; p.MaxRatio < 0 || p.MaxRatio > 1 {
				v.add(k+".max_ratio", "must be in [0, 1] (0 = off)")
			}
		}
		if fd.MaxOpen != nil {
			if p.MaxOpen = *fd.MaxOpen; p.MaxOpen < 0 {
				v.add(k+".max_open", "must be >= 0 (0 = off)")
			}
		}
		v.positive(k+".persist", fd.Persist, &p.Persist)
	}
	if hk := f.BeforeRestart; hk != nil {
		k := key + ".before_restart"
		h.BeforeRestart.Command = hk.Command
		if hk.Command != nil && (len(hk.Command) == 0 || hk.Command[0] == "") {
			v.add(k+".command", "empty command")
		}
		v.duration(k+".timeout", hk.Timeout, &h.BeforeRestart.Timeout, false)
	}
}
