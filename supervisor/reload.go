//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

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
	s.noteReload(nil)
	return rep, nil
}

// reloadState is how the last reload went, for the metrics Prometheus
// and Alertmanager export of their own: whether it succeeded, and when
// the configuration was last loaded successfully (the start counts).
type reloadState struct {
	ok     bool
	lastOK time.Time
}

// noteReload records the outcome of a reload: err nil for one applied.
// A rejected one is a history record too (event reload, reason
// rejected, every problem as file:line), so that `systemctl reload`
// through SIGHUP leaves more than a log line.
func (s *Supervisor) noteReload(err error) {
	s.mu.Lock()
	if err == nil {
		s.reload = reloadState{ok: true, lastOK: time.Now()}
	} else {
		s.reload.ok = false
	}
	running := s.rec != nil
	s.mu.Unlock()
	if err == nil {
		return
	}
	ev := s.log.Error().Err(err)
	if !running {
		ev.Msg("reload rejected; children keep running with the old configuration")
		return
	}
	s.record(ev, history.Record{Event: history.EventReload, Reason: history.ReasonRejected, Message: err.Error()})
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
// error (with file:line of every problem) is logged and returned. A file
// that is not a regular file (a FIFO put in its place) is refused at once
// by config.Load. When ctx ends while the file is still being read (a
// hung network filesystem), ReloadFile returns ctx's error at once, so
// that a reload never holds up shutdown; the read is left to finish on
// its own.
func (s *Supervisor) ReloadFile(ctx context.Context) (ReloadReport, error) {
	s.mu.Lock()
	path := s.cfg.Path
	s.mu.Unlock()
	cfg, err := loadWithin(ctx, path)
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		s.log.Warn().Err(err).Msg("reload abandoned")
		return ReloadReport{}, err
	case err != nil:
		s.noteReload(err)
		return ReloadReport{}, err
	}
	return s.Reload(ctx, cfg)
}

// loadWithin is config.Load that gives up when ctx is done. A read of a
// regular file cannot be interrupted, so it runs in a goroutine of its
// own, which outlives the call when ctx ends first, on a thread that
// takes no signal meant for resreap (see offSignals).
func loadWithin(ctx context.Context, path string) (*config.Config, error) {
	type loaded struct {
		cfg *config.Config
		err error
	}
	done := make(chan loaded, 1)
	go offSignals(func() {
		cfg, err := config.Load(path)
		if err == nil {
			// Refused as `resreap run` refuses them; it walks paths, so
			// it may hang on a stuck file system too.
			err = config.CheckPaths(cfg)
		}
		done <- loaded{cfg, err}
	})
	select {
	case l := <-done:
		return l.cfg, l.err
	case <-ctx.Done():
		return nil, fmt.Errorf("reload abandoned while reading %s: %w", path, ctx.Err())
	}
}

// offSignals runs f on a thread of its own that blocks every asynchronous
// signal. f may sleep in the kernel where nothing but KILL wakes it (a
// read from a hung NFS server, an open that fanotify holds). The kernel
// hands a signal sent to resreap to one thread that does not block it,
// and one handed to a thread in such a sleep waits with it: TERM went
// unseen for seconds in the fault suite while a reload's open was held.
// Blocked here, such signals go to another thread. Synchronous signals (a
// fault in f) stay unblocked: blocked, one would kill resreap instead of
// panicking.
func offSignals(f func()) {
	runtime.LockOSThread()
	set := asyncSignals()
	var old unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		runtime.UnlockOSThread()
		f()
		return
	}
	defer func() {
		// A thread whose mask could not be restored is not given back:
		// it ends with the goroutine.
		if unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil) == nil {
			runtime.UnlockOSThread()
		}
	}()
	f()
}

// asyncSignals is the set of every signal but those a thread raises by
// faulting, which must reach it.
func asyncSignals() unix.Sigset_t {
	var set unix.Sigset_t
	for i := range set.Val {
		set.Val[i] = ^set.Val[i]
	}
	bits := int(unsafe.Sizeof(set.Val[0])) * 8
	for _, sig := range []unix.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS, unix.SIGABRT} {
		n := int(sig) - 1
		set.Val[n/bits] &^= 1 << (n % bits)
	}
	return set
}
