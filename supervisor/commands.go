//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

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
// count), or one waiting in backoff, and returns its status right after.
// A running child is left alone.
func (s *Supervisor) StartChild(ctx context.Context, name string) (ChildStatus, error) {
	c, err := s.lookup(name)
	if err != nil {
		return ChildStatus{}, err
	}
	if _, err = c.call(ctx, request{kind: reqStart, reason: history.ReasonManual}); err != nil {
		return ChildStatus{}, err
	}
	return c.status(), nil
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

// SignalChild sends sig to the child: every process of its cgroup (or its
// main process and process group without one), or with mainOnly its main
// process alone.
func (s *Supervisor) SignalChild(ctx context.Context, name string, sig unix.Signal, mainOnly bool) error {
	c, err := s.lookup(name)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, request{kind: reqSignal, signal: sig, main: mainOnly})
	return err
}

// ForceKill sends SIGKILL to every live child at once, its whole cgroup
// or process group (a second interrupt during shutdown), without waiting
// for the children's goroutines, which may be busy stopping; they then see
// the exits as usual.
func (s *Supervisor) ForceKill() {
	for _, c := range s.childList() {
		c.mu.Lock()
		p := c.live
		c.mu.Unlock()
		if p == nil {
			continue
		}
		s.log.Warn().Str("child", c.name).Int("pid", p.pid).Msg("forced kill")
		if err := p.target().Signal(unix.SIGKILL); err != nil && !errors.Is(err, ErrGone) {
			s.log.Error().Err(err).Str("child", c.name).Msg("forced kill failed")
		}
	}
}
