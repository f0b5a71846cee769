//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/signame"
)

// Errors returned by the operator commands (StartChild, StopChild, ...).
var (
	// ErrUnknownChild is returned, wrapped with the name, for a child the
	// configuration does not have.
	ErrUnknownChild = errors.New("unknown child")
	// ErrNotRunning is returned for a command that needs a live process
	// (signal), or after shutdown began.
	ErrNotRunning = errors.New("child is not running")
)

// child owns one configured program. Exactly one goroutine (run) changes
// its state and owns its process: it starts it, receives its exit from the
// Reaper, stops it and restarts it. Everyone else talks to it through
// requests; Status reads a snapshot and never waits for the goroutine.
type child struct {
	sup  *Supervisor
	name string // never changes; a reload that renames is a remove and an add
	log  zerolog.Logger
	reqs chan request
	// verdicts holds at most one health verdict; the health loop never
	// waits for a busy child (see tell).
	verdicts chan verdict
	done     chan struct{} // closed when run returns

	// Owned by the run goroutine.
	spec      config.ChildSpec
	proc      *proc.Process
	lingering []lingerer // old generations still alive after SIGKILL and the kill wait
	holding   string     // why the next start waits for them ("" when it does not)
	tracker   restartTracker
	attempts  int // start attempts in this resreap; every one after the first is a restart
	timer     *time.Timer
	timerOn   timerKind
	// quietUntil: verdicts are not acted on before then (a veto's
	// cooldown); reported and deferred: the last would_restart and
	// deferred verdicts recorded ("pid reason"), each recorded once.
	quietUntil time.Time
	reported   string
	deferred   string
	// tap, when set, gets a copy of the child's output (a capture after
	// QUIT); captured is the capture directory of the stop under way, for
	// its records.
	tap      tapOutput
	captured string
	// tail keeps the last lines of the current (or last) process's
	// output, for a failed start to say why.
	tail *outputTail
	// The prober of the current process (see prober), its results, and
	// how to end it; probing counts it, for run to wait for it.
	probes    chan probeResult
	stopProbe context.CancelFunc
	probing   sync.WaitGroup
	// Zero-downtime restarts (sockets.go, notify.go, surge.go,
	// handover.go): the run loop's context; the sockets held for the
	// child; the generation of the current process and of the one being
	// started; MAINPID= of the current one, and the successor followed
	// after a hand-over; the notify messages for the child.
	ctx       context.Context
	socks     *heldSockets
	gen       int
	nextGen   int
	mainPID   int
	follow    *followed
	notices   chan notice
	gensMu    sync.Mutex // guards gens, overlap and socketsID
	gens      []genRef   // the live generations, for deliverNotice
	overlap   bool       // two generations run side by side (a surge)
	socketsID uint64     // the sockets leaf's cgroup id; 0: none

	mu      sync.Mutex // guards snap, changed, health and live
	snap    ChildStatus
	changed chan struct{}     // closed and replaced at every state change
	health  config.HealthSpec // copy of spec.Health for the health loop
	live    *proc.Process     // copy of proc, for ForceKill while run is busy
}

type timerKind int

const (
	timerNone    timerKind = iota
	timerRunning           // start_seconds passed: Starting -> Running
	timerBackoff           // backoff passed: start again
	timerNotify            // start_timeout passed without READY=1
)

type reqKind int

const (
	reqStart reqKind = iota
	reqStop
	reqRestart
	reqSignal
	reqUpdate
)

type request struct {
	kind   reqKind
	reason history.Reason
	signal unix.Signal
	main   bool // reqSignal: the main process only
	spec   *config.ChildSpec
	reply  chan reply // buffered 1; nil when nobody waits
}

type reply struct {
	stop *StopReport
	err  error
}

// ChildStatus is a snapshot of one child for status displays.
type ChildStatus struct {
	Name    string
	State   State
	PID     int       // of the live process; 0 when none
	Since   time.Time // when the current state began
	Started time.Time // when the live process started; zero when none
	// Restarts counts start attempts after the first of each run of
	// resreap: those of this run, on top of those the history holds of
	// earlier runs (read once at start), as history --summary counts.
	Restarts int
	// Failures counts failed starts (an exit within start_seconds, or a
	// start that never ran), so a caller can tell a start that failed.
	Failures int
	// RestartsBy counts Restarts by the reason the process before ended
	// (or its start failed): exited, close_wait, operator...
	RestartsBy map[history.Reason]int
	LastReason history.Reason
	LastExit   string
	// LastExitCode is the last exit as a shell reports it (the code, or
	// 128 + the signal), -1 when there was none or it is unknown.
	LastExitCode int
	LastFailed   bool          // the last exit was a failure (non-zero, or a signal)
	Cgroup       string        // the live process's cgroup path; "" without one
	Health       health.Result // the latest scan of the live process
	HealthAt     time.Time     // when it was taken; zero before the first
	Usage        *cgroup.Stats // the live process's cgroup, read by Status; nil without one
	// WaitingFor says what the child waits for before its start: a
	// dependency (its name), or an old generation still alive after its
	// stop ("the old generation to exit (pid 12 in /resreap/child-web.3)").
	WaitingFor string
	// Ready is true while the child is Running and, with a ready probe,
	// the probe's last answer passed: it becomes false when a liveness
	// probe fails, true again when one passes. False in every other state.
	Ready bool
	// Probed says the child has a ready probe (Ready then follows it).
	Probed bool
	// LastOutput is the end of what the process of the last start wrote,
	// when that start failed (an exit within start_seconds, or no
	// readiness within start_timeout); nil once the child runs.
	LastOutput *history.OutputTail
}

// Up reports whether the child is as it should be: running and ready
// (for a child with a ready probe, its last probe passed), or exited
// cleanly where its restart policy says not to start it again (a
// one-shot job done). A child stopped by an operator is not up, nor one
// starting, in backoff, stopping, fatal, waiting for a dependency, or
// exited after a failure: what depends on it cannot use it. status's
// table, --json and exit code, resreap_child_up, /readyz (for the
// children marked required) and systemd's STATUS= all follow it.
func (st ChildStatus) Up() bool {
	switch st.State {
	case Running:
		return st.Ready
	case Exited:
		return !st.LastFailed
	}
	return false
}

func newChild(s *Supervisor, spec config.ChildSpec) *child {
	c := &child{
		sup:      s,
		name:     spec.Name,
		spec:     spec,
		health:   spec.Health,
		log:      s.log.With().Str("child", spec.Name).Logger(),
		reqs:     make(chan request),
		verdicts: make(chan verdict, 1),
		probes:   make(chan probeResult),
		notices:  make(chan notice, noticeQueue),
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	c.snap = ChildStatus{Name: spec.Name, State: Stopped, Since: time.Now(), LastExitCode: -1, Probed: spec.Ready.Enabled()}
	for _, g := range s.own.takeHeld(spec.Name) { // a previous resreap's, that recovery could not stop
		c.lingering = append(c.lingering, lingerer{leaf: g, exited: true})
	}
	return c
}

// healthSpec returns the child's health spec, for the health loop.
func (c *child) healthSpec() config.HealthSpec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

// status returns the current snapshot.
func (c *child) status() ChildStatus {
	st, _ := c.snapshot()
	return st
}

// snapshot returns the child's status and its live process (nil when
// none), read together, without waiting for the child's goroutine.
func (c *child) snapshot() (ChildStatus, *proc.Process) {
	past := c.sup.past.of(c.name)
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.snap
	st.RestartsBy = maps.Clone(st.RestartsBy)
	past.addTo(&st)
	return st, c.live
}

// statePID returns the child's state and the pid of its process (0 when
// none): what the health loop looks at every tick, without copying the
// whole status.
func (c *child) statePID() (State, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap.State, c.snap.PID
}

// liveProcess returns the child's live process, nil when none.
func (c *child) liveProcess() *proc.Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

func (c *child) update(f func(*ChildStatus)) {
	c.mu.Lock()
	f(&c.snap)
	c.mu.Unlock()
}

func (c *child) setState(st State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap.State != st {
		c.snap.State, c.snap.Since = st, time.Now()
		// Running is reached once ready (see running), and left
		// only by a stop or an exit; a liveness probe says otherwise
		// meanwhile (see setReady).
		c.snap.Ready = st == Running
		if st == Running {
			c.snap.LastOutput = nil // the last start did not fail
		}
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// waitFor waits until the child is in state st and reports whether it
// is; false when ctx is done or the child was removed first.
func (c *child) waitFor(ctx context.Context, st State) bool {
	for {
		c.mu.Lock()
		cur, changed := c.snap.State, c.changed
		c.mu.Unlock()
		if cur == st {
			return true
		}
		select {
		case <-changed:
		case <-c.done:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// call sends a request to the run goroutine and waits for its answer.
func (c *child) call(ctx context.Context, req request) (reply, error) {
	req.reply = make(chan reply, 1)
	select {
	case c.reqs <- req:
	case <-c.done:
		return reply{}, fmt.Errorf("child %q: %w", c.spec.Name, ErrNotRunning)
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r, r.err
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

// run is the child's owner loop. It returns when ctx is done, after
// stopping the process if one is still alive.
func (c *child) run(ctx context.Context) {
	defer close(c.done)
	c.ctx = ctx
	for {
		var exitCh <-chan proc.ExitStatus
		if c.proc != nil {
			exitCh = c.proc.Exit()
		}
		lingerCh, lingerAt := c.lingerExit()
		var timerCh <-chan time.Time
		if c.timerOn != timerNone {
			timerCh = c.timer.C
		}
		select {
		case <-ctx.Done():
			if c.proc != nil {
				c.stop(history.ReasonShutdown, nil)
			}
			c.endLingering()
			c.cancelTimer()
			c.endProbe()
			c.closeSockets()
			return
		case v := <-c.verdicts:
			c.unhealthy(v)
		case req := <-c.reqs:
			r := c.handle(req)
			if req.reply != nil {
				req.reply <- r
			}
		case ex := <-exitCh:
			c.exited(ex)
		case r := <-c.probes:
			c.probed(r)
		case n := <-c.notices:
			c.noticed(n)
		case <-c.followExit():
			c.followExited()
		case ex := <-lingerCh:
			c.lingerExited(lingerAt, ex)
		case <-timerCh:
			kind := c.timerOn
			c.timerOn = timerNone
			switch kind {
			case timerRunning:
				c.running("up " + c.spec.StartGrace.String())
			case timerBackoff:
				c.start()
			case timerNotify:
				c.notReady(errors.New("no READY=1 on the notify socket"))
			}
		}
	}
}

func (c *child) handle(req request) reply {
	switch req.kind {
	case reqStart:
		if c.proc != nil {
			return reply{}
		}
		c.cancelTimer()
		c.tracker.reset()
		c.start()
	case reqStop:
		c.cancelTimer()
		if c.proc == nil {
			c.unhold()
			c.setState(Stopped)
			return reply{}
		}
		rep := c.stop(req.reason, nil)
		return reply{stop: &rep}
	case reqRestart:
		if c.proc == nil {
			c.cancelTimer()
			c.start()
			return reply{}
		}
		rep := c.restart(req.reason, nil, false)
		return reply{stop: &rep}
	case reqSignal:
		if c.proc == nil {
			return reply{err: fmt.Errorf("child %q: %w", c.spec.Name, ErrNotRunning)}
		}
		if c.sup.opts.DryRun {
			c.log.Info().Str("signal", signame.Name(req.signal)).Bool("main_only", req.main).Msg("dry run: would signal the child")
			return reply{}
		}
		if err := c.proc.Send(req.signal, req.main); err != nil {
			return reply{err: fmt.Errorf("child %q: signal %s: %w", c.spec.Name, signame.Name(req.signal), err)}
		}
	case reqUpdate:
		return c.applySpec(*req.spec)
	}
	return reply{}
}

// applySpec applies a reloaded spec. The failure count and backoff start
// over, as for a new child. A running process is restarted only when a
// key of the process itself changed (see config.ChildSpec.Diff); a child
// not running is started.
func (c *child) applySpec(spec config.ChildSpec) reply {
	keys, restart := c.spec.Diff(spec)
	c.spec = spec
	c.mu.Lock()
	c.health = c.spec.Health
	c.snap.Probed = spec.Ready.Enabled()
	c.mu.Unlock()
	c.log = c.sup.log.With().Str("child", c.spec.Name).Logger()
	c.tracker.reset()
	c.quietUntil, c.reported, c.deferred = time.Time{}, "", ""
	c.log.Info().Strs("changed", keys).Bool("restart", restart && c.proc != nil).Msg(c.name + " reloaded: " + strings.Join(keys, ", ") + " changed")
	switch {
	case c.proc != nil && restart:
		rep := c.restart(history.ReasonReload, nil, false)
		return reply{stop: &rep}
	case c.proc == nil:
		c.cancelTimer()
		c.start()
	}
	return reply{}
}

func (c *child) cancelTimer() {
	if c.timerOn != timerNone {
		c.timer.Stop()
		c.timerOn = timerNone
	}
}

func (c *child) arm(kind timerKind, d time.Duration) {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	c.timerOn = kind
}
