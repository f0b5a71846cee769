//go:build linux

package health

// verdict turns the findings of a scan into Evidence, or nil when the
// target is healthy. CLOSE_WAIT wins over fd exhaustion: leaked sockets
// are usually what exhausts the fds, and the socket evidence names the
// peer to look at.
func verdict(p Policy, persistent []SocketSample, fds FDUsage, fdOver bool) *Evidence {
	cw := !p.CloseWait.Disabled && len(persistent) >= p.CloseWait.Threshold
	fd := !p.FDs.Disabled && fdOver
	if !cw && !fd {
		return nil
	}
	var fdp *FDUsage
	if fds.PID != 0 {
		f := fds // only a verdict's copy goes to the heap
		fdp = &f
	}
	ev := &Evidence{Reason: ReasonFDExhaustion, CloseWait: len(persistent), FDs: fdp}
	if cw {
		ev.Reason = ReasonCloseWait
		ev.Threshold = p.CloseWait.Threshold
	}
	if len(persistent) > 0 {
		ev.Samples = persistent[:min(len(persistent), MaxSamples)]
		ev.ByForeign = make(map[string]int)
		for _, s := range persistent {
			ev.ByForeign[s.Tuple.Remote.String()]++
		}
	}
	return ev
}
