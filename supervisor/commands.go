//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
)

// Status returns a snapshot of every child, sorted by name, with the
// figures of its cgroup read now. It never waits for a child's goroutine,
// so it answers while a child is stopping.
func (s *Supervisor) Status() []ChildStatus {
	var out []ChildStatus
	for _, c := range s.childList() {
		st, p := c.snapshot()
		if p != nil && p.Cgroup() != (cgroup.Group{}) {
			if u, err := p.Cgroup().Stats(); err == nil {
				st.Usage = &u
			}
		}
		out = append(out, st)
	}
	return out
}

// Info is what the supervisor says about itself in a status.
type Info struct {
	PID       int
	Started   time.Time
	Ownership string // OwnCgroup or OwnProcessGroup
	// OwnershipDetail is the cgroup subtree, or why there is none.
	OwnershipDetail string
	// CgroupMissing says which controllers the children's cgroups lack,
	// why and what is lost ("memory (at /sys/fs/cgroup/memory) bound to
	// cgroup v1 on this host, ...: no memory figures, memory_max cannot
	// apply"); "" when none is, or without cgroups.
	CgroupMissing string
	DryRun        bool
	// OutputLost counts lines of children's output dropped because
	// resreap's stdout or stderr was not being read, or a child's output
	// file could not take them; HistoryFailed the writes to the history
	// that failed (their events stay queued and are retried),
	// HistoryDropped the events that will never be recorded (the queue
	// was full, shutdown could not wait for them, or they cannot be
	// encoded).
	OutputLost, HistoryFailed, HistoryDropped int64
	// StopHelperErrors counts, by helper (cgroup.Helpers: "freeze",
	// "watch", "signal"...), the stops that went on without it because it
	// failed; nil before Run.
	StopHelperErrors map[string]int64
	// HistoryPending is how many events wait for the history now: being
	// written, or kept in order for a retry after a failed write.
	HistoryPending int
	// LastReloadOK says whether the last reload (SIGHUP, resreap reload)
	// was applied: false after one was rejected, until one is applied.
	// LastReloadSuccess is when the configuration was last loaded and
	// applied: at start, or by a reload.
	LastReloadOK      bool
	LastReloadSuccess time.Time
	// HealthSource says where the health scan's CLOSE_WAIT sockets come
	// from (the BPF event source or a dump) and why; zero before Run.
	HealthSource health.SourceInfo
	// Starting: Run has not added the children yet (it takes the
	// cgroups, recovers what an earlier resreap left, opens the scan).
	Starting bool
}

// Info returns what the supervisor says about itself.
func (s *Supervisor) Info() Info {
	mode, detail := s.Ownership()
	in := Info{PID: os.Getpid(), Ownership: mode, OwnershipDetail: detail, DryRun: s.opts.DryRun}
	select {
	case <-s.ready:
	default:
		in.Starting = true
	}
	s.mu.Lock()
	q1, q2, rec, own, scanner := s.stdout, s.stderr, s.rec, s.own, s.scanner
	in.Started = s.started
	in.LastReloadOK, in.LastReloadSuccess = s.reload.ok, s.reload.lastOK
	for _, f := range s.files {
		in.OutputLost += f.q.Lost()
	}
	s.mu.Unlock()
	if q1 != nil {
		in.OutputLost += q1.Lost() + q2.Lost()
	}
	if rec != nil {
		in.HistoryDropped, in.HistoryFailed, in.HistoryPending = rec.Dropped(), rec.Failed(), rec.Pending()
	}
	if own != nil {
		in.StopHelperErrors = own.faultCounts()
		in.CgroupMissing = own.missing
	}
	if scanner != nil {
		in.HealthSource = scanner.Source()
	}
	return in
}

// NotReady names the children marked required that are not up (see
// ChildStatus.Up: running and, with a ready probe, ready; or exited
// cleanly as their restart policy allows), sorted; none means resreap is
// ready to serve. It is the notion status uses, so /readyz and status
// never disagree about a child. Before Run and after shutdown began,
// every required child is named.
func (s *Supervisor) NotReady() []string {
	var out []string
	s.mu.Lock()
	specs := s.cfg.Children
	closing := s.closing
	s.mu.Unlock()
	for _, spec := range specs {
		if !spec.Required {
			continue
		}
		c := s.child(spec.Name)
		if closing || c == nil || !c.status().Up() {
			out = append(out, spec.Name)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Supervisor) lookup(name string) (*child, error) {
	if c := s.child(name); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownChild, name)
}

// ErrStartFailed is returned, wrapped with how it ended, when a start an
// operator asked for failed: the process exited within start_seconds, or
// never ran.
var ErrStartFailed = errors.New("start failed")

// StartChild starts a stopped, exited or fatal child (clearing its failure
// count), or one waiting in backoff, and waits until it is Running, or has
// failed to start (ErrStartFailed), or wait has passed (ErrStillStarting,
// with the status so far). A running child is left alone.
func (s *Supervisor) StartChild(ctx context.Context, name string, wait time.Duration) (ChildStatus, error) {
	c, err := s.lookup(name)
	if err != nil {
		return ChildStatus{}, err
	}
	before := c.status()
	if _, err = c.call(ctx, request{kind: reqStart}); err != nil {
		return ChildStatus{}, err
	}
	if before.State == Running {
		return c.status(), nil
	}
	return c.awaitStart(ctx, before, wait)
}

// ErrStillStarting is returned, wrapped with the state, when a start an
// operator asked for has not reached Running within the wait.
var ErrStillStarting = errors.New("not running yet")

// awaitStart waits up to wait for the outcome of the start that followed
// the snapshot before: Running, or a failed start.
func (c *child) awaitStart(ctx context.Context, before ChildStatus, wait time.Duration) (ChildStatus, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		c.mu.Lock()
		st, changed := c.snap, c.changed
		c.mu.Unlock()
		switch {
		case st.Failures > before.Failures:
			err := fmt.Errorf("child %q: %w: %s", c.name, ErrStartFailed, st.LastExit)
			if t := tailText(st.LastOutput); t != "" {
				err = fmt.Errorf("%w\n%s", err, t)
			}
			return st, err
		case st.State == Running && (st.Restarts > before.Restarts || before.State != Running && st.PID != 0):
			return st, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return st, fmt.Errorf("child %q: %w after %s (state %s)", c.name, ErrStillStarting, wait, strings.ToLower(st.State.String()))
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
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

// RestartChild stops a child through its escalation chain, starts it again
// at once and waits up to wait for the outcome, as StartChild does. The
// report is nil when the child was not running.
func (s *Supervisor) RestartChild(ctx context.Context, name string, wait time.Duration) (*StopReport, ChildStatus, error) {
	c, err := s.lookup(name)
	if err != nil {
		return nil, ChildStatus{}, err
	}
	before := c.status()
	r, err := c.call(ctx, request{kind: reqRestart, reason: history.ReasonManual})
	if err != nil {
		return r.stop, ChildStatus{}, err
	}
	st, err := c.awaitStart(ctx, before, wait)
	return r.stop, st, err
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
		p := c.liveProcess()
		if p == nil {
			continue
		}
		s.log.Warn().Str("child", c.name).Int("pid", p.PID()).Msg("forced kill")
		if err := p.Target(nil).Signal(unix.SIGKILL); err != nil && !errors.Is(err, proc.ErrGone) {
			s.log.Error().Err(err).Str("child", c.name).Msg("forced kill failed")
		}
	}
}
