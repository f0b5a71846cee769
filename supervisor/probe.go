//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/proc"
)

// probe runs the ready probe of r once: a TCP connect, an HTTP GET that
// must answer 2xx, or a command that must exit 0, each within r.Timeout.
// nil means ready.
func probe(ctx context.Context, r config.ReadySpec, leaf cgroup.Group, reaper *proc.Reaper, log zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	switch {
	case r.TCP != "":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", r.TCP)
		if err != nil {
			return err
		}
		return c.Close()
	case r.HTTP != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.HTTP, nil)
		if err != nil {
			return err
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("GET %s: %s", r.HTTP, resp.Status)
		}
		return nil
	case len(r.Exec) > 0:
		path, err := program(r.Exec, "")
		if err != nil {
			return err
		}
		h := proc.Hook{Command: proc.Command{Path: path, Args: r.Exec, Cgroup: leaf}, Timeout: r.Timeout}
		err = proc.RunHook(ctx, reaper, h, log.With().Str("probe", "exec").Logger())
		var veto *proc.VetoError
		if errors.As(err, &veto) {
			return fmt.Errorf("%s: %s", r.Exec[0], veto.Why)
		}
		return err
	}
	return nil
}

// probeClient does not follow a redirect to another host's health page,
// and never keeps connections: a probe must see the server as a new
// client would.
var probeClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// probeResult is what a child's prober tells its owner.
type probeResult struct {
	pid   int   // the process probed
	ready bool  // the first success (start), not yet sent before
	err   error // a failure; with failures, how many in a row
	fails int
	// recovered: a liveness probe passed after failures; the child is
	// ready again.
	recovered bool
	// timedOut: not ready within start_timeout; the prober stopped.
	timedOut bool
}

// prober probes the process p of a child (an exec probe runs in its
// cgroup, when it has one): every ready.interval until it is ready (or
// start_timeout passes), then, with liveness on, every liveness.interval
// for as long as ctx lives. It sends what the owner must act on to out:
// the readiness, a timeout, each failure once the child ran, and the
// first pass after failures. It returns when ctx is done; its owner
// cancels ctx when the process ends.
func prober(ctx context.Context, spec *config.ChildSpec, p *proc.Process, reaper *proc.Reaper, log zerolog.Logger, out chan<- probeResult) {
	pid := p.PID()
	send := func(r probeResult) bool {
		r.pid = pid
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	deadline := time.Now().Add(spec.StartTimeout)
	tick := time.NewTicker(spec.Ready.Interval)
	defer tick.Stop()
	var lastErr error
	for {
		if lastErr = probe(ctx, spec.Ready, p.Cgroup(), reaper, log); lastErr == nil {
			if !send(probeResult{ready: true}) {
				return
			}
			break
		}
		if time.Now().After(deadline) {
			send(probeResult{timedOut: true, err: lastErr})
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
	if spec.Liveness.Failures == 0 {
		return
	}
	tick.Reset(spec.Liveness.Interval)
	fails := 0
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		if err := probe(ctx, spec.Ready, p.Cgroup(), reaper, log); err != nil {
			fails++
			if ctx.Err() == nil && !send(probeResult{err: err, fails: fails}) {
				return
			}
			continue
		}
		if fails > 0 && !send(probeResult{recovered: true}) {
			return
		}
		fails = 0
	}
}
