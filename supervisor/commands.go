//go:build linux

package supervisor

import (
	"context"
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
