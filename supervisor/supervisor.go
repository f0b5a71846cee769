//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
)

// Ownership says how the children are owned (OwnCgroup or
// OwnProcessGroup) and, for a cgroup, the subtree's path, else why there
// is none; empty before Run has set it up.
func (s *Supervisor) Ownership() (mode, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.own == nil {
		return "", ""
	}
	if s.own.cgroups() {
		return s.own.mode, s.own.sub.Root().Path()
	}
	return s.own.mode, s.own.why
}

// HistorySink receives every event before it is logged as recorded.
// Append must make the record durable before it returns nil (the history
// file fsyncs); a sink that also has AppendAll([]history.Record) []error,
// as *history.Writer does, gets a burst of events in one call.
//
// Run owns the sink while it runs: one goroutine of its own makes every
// call, so the sink need not be safe for concurrent use, and closes it
// when Run is done with it if it is an io.Closer. The caller must not use
// it once Run has started. A failed append is retried, the event and
// those behind it kept in order, until it succeeds; errors wrapping
// history.ErrRotate mean written, and history.ErrEncode or ErrClosed that
// the record never will be (it is then counted as dropped, not retried).
type HistorySink interface {
	Append(history.Record) error
}

// Options configure a Supervisor.
type Options struct {
	Log     zerolog.Logger
	Reaper  *proc.Reaper // required: the process's one Reaper
	History HistorySink  // nil: events are only logged; Run closes it (see HistorySink)
	DryRun  bool         // log the signals and restarts it would do; do none
	Stdout  io.Writer    // where children's stdout lines go (default os.Stdout)
	Stderr  io.Writer    // where children's stderr lines go (default os.Stderr)
	// OnScan, if set, is told of each health scan, from the health loop:
	// it must return at once (a metric update, say).
	OnScan func(ScanReport)
	// FleetAgent is the argv of the fleet agent, run when the config has
	// a [fleet] table; nil: [fleet] agent, else resreap-fleet beside
	// resreap's binary, else in PATH (see agentCommand).
	FleetAgent []string
	// HistoryPath is the history file History writes, read once when
	// Run starts for the restarts of earlier runs, so that status counts
	// on from them as history --summary does ("": counts start at 0).
	HistoryPath string
}

// ScanReport is one health scan, for metrics.
type ScanReport struct {
	Reader   string        // the socket reader: "netlink" or "proc"
	Took     time.Duration // wall time of the scan
	Err      error         // the scan failed (its targets were not judged)
	FDTables int           // fd tables read
}

// aliveAfter is how long the health loop may go without a tick before
// Alive says resreap is stuck: it ticks at least every second, and a scan
// of 100k sockets takes under a second.
const aliveAfter = 30 * time.Second

// Supervisor starts, watches and stops the children of one configuration.
type Supervisor struct {
	opts   Options
	log    zerolog.Logger
	reaper *proc.Reaper
	stdout *lineQueue
	stderr *lineQueue

	reloadMu sync.Mutex // one reload at a time
	closing  bool       // guarded by mu: shutdown began, no more reloads
	mu       sync.Mutex // guards cfg, children, cancel and files
	cfg      *config.Config
	children map[string]*child
	cancel   map[string]context.CancelFunc
	files    map[fileKey]*fileOutput // child output files
	out      *outputPoller           // copies the children's output pipes, set by Run

	ctx      context.Context // the children's context, set by Run
	runCtx   context.Context // Run's own: done when shutdown begins
	starters sync.WaitGroup  // startAfter goroutines
	loops    sync.WaitGroup  // child run loops
	own      *owner          // how children are owned, set by Run
	notify   *notifier       // the children's notify socket, set by Run; nil: none
	started  time.Time       // when Run began
	rec      *recorder       // writes the history, set by Run
	scanner  *health.Scanner // the health loop's, set by Run: Info tells its source
	lastTick atomic.Int64    // UnixNano of the health loop's last tick
	groups   *groups         // restart budgets and correlation of the [[group]]s
	fleet    *fleetLink      // guarded by mu; nil without [fleet]
	reload   reloadState     // guarded by mu: how the last reload went
	past     pastRestarts    // restarts before this run, from the history
	counting sync.WaitGroup  // the goroutine that counts them
	captures sync.WaitGroup  // capture writers (see child.capture)
	// ready closes once Run has added the children (a reload waits for
	// it); runDone when Run returns.
	ready, runDone chan struct{}
}

// New makes a Supervisor for cfg. Nothing starts until Run.
func New(cfg *config.Config, opts Options) *Supervisor {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	return &Supervisor{
		opts:     opts,
		log:      opts.Log,
		reaper:   opts.Reaper,
		cfg:      cfg,
		children: map[string]*child{},
		cancel:   map[string]context.CancelFunc{},
		files:    map[fileKey]*fileOutput{},
		groups:   newGroups(),
		reload:   reloadState{ok: true, lastOK: time.Now()}, // cfg was just loaded
		ready:    make(chan struct{}),
		runDone:  make(chan struct{}),
	}
}

// Run starts every child in dependency order, supervises them until ctx is
// done, then stops them in reverse order and returns. Every goroutine it
// started has ended when it returns.
func (s *Supervisor) Run(ctx context.Context) error {
	defer close(s.runDone)
	if s.reaper == nil {
		return fmt.Errorf("supervisor: Options.Reaper is required")
	}
	s.mu.Lock()
	cfg := s.cfg
	s.started = time.Now()
	s.rec = newRecorder(s.opts.History, s.log)
	s.mu.Unlock()
	defer s.rec.close()
	s.counting.Go(func() { s.past.count(s.opts.HistoryPath, s.started, s.log) })
	defer s.counting.Wait()
	own, err := newOwner(cfg.Supervisor, limitControllers(cfg.Children), s.log)
	if err != nil {
		return fmt.Errorf("ownership: %w", err)
	}
	defer own.close()
	s.mu.Lock()
	s.own = own
	s.mu.Unlock()
	own.logMode()
	if n, err := newNotifier(s.log); err != nil {
		s.log.Warn().Err(err).Msg("no notify socket: READY=1 and MAINPID= cannot be had")
	} else {
		s.notify = n
		go n.run(s.deliverNotice)
		defer n.close()
	}
	out, err := newOutputPoller()
	if err != nil {
		return err
	}
	hl, err := newHealthLoop(s, cfg.Supervisor)
	if err != nil {
		out.close()
		return err
	}
	s.mu.Lock()
	s.scanner = hl.scanner
	s.mu.Unlock()
	s.recoverOrphans(cfg.Children)
	s.mu.Lock()
	s.stdout, s.stderr = newLineQueue(s.opts.Stdout, "stdout"), newLineQueue(s.opts.Stderr, "stderr")
	s.out = out
	s.mu.Unlock()

	// A reload (SIGHUP) during start-up waits until the children are
	// added: both add children, and one would add a child the other is
	// adding.
	s.reloadMu.Lock()
	childCtx, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	s.mu.Lock()
	s.ctx, s.runCtx = childCtx, ctx
	s.mu.Unlock()

	healthCtx, stopHealth := context.WithCancel(context.Background())
	healthDone := make(chan struct{})
	go func() { defer close(healthDone); hl.run(healthCtx) }()

	s.startFleet(cfg) // nothing without [fleet]
	started := s.startAll(cfg.Children)
	s.starters.Go(func() {
		select {
		case <-started:
			s.log.Debug().Int("kB", releaseStartupPages()).Msg("start-up pages released")
		case <-ctx.Done():
		}
	})
	s.reloadMu.Unlock()
	close(s.ready)
	<-ctx.Done()
	s.starters.Wait() // they end with ctx

	stopHealth()
	<-healthDone
	s.shutdown()
	cancelAll()
	s.loops.Wait()
	s.stopFleet()
	s.closeOutputs()
	s.waitCaptures()
	return nil
}

// captureWait bounds how long shutdown waits for capture writers: one
// stuck on a dead disk must not keep resreap from exiting.
const captureWait = 5 * time.Second

func (s *Supervisor) waitCaptures() {
	if _, ok := doneWithin(captureWait, s.captures.Wait); !ok {
		s.log.Error().Msg("a capture is still being written at exit; it may be incomplete")
	}
}

// doneWithin runs f in a goroutine of its own and reports whether it
// returned within d; done closes when it does, for a caller that waits on.
func doneWithin(d time.Duration, f func()) (done <-chan struct{}, ok bool) {
	c := make(chan struct{})
	go func() { f(); close(c) }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c:
		return c, true
	case <-timer.C:
		return c, false
	}
}

// isClosing reports whether shutdown has begun.
func (s *Supervisor) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Alive returns nil while resreap's health loop runs: it ticked within
// aliveAfter. Before Run it is an error.
func (s *Supervisor) Alive() error {
	last := s.lastTick.Load()
	if last == 0 {
		return errors.New("not running yet")
	}
	if ago := time.Since(time.Unix(0, last)); ago > aliveAfter {
		return fmt.Errorf("the health loop last ticked %s ago", ago.Round(time.Second))
	}
	return nil
}

// startAll adds the children of specs and starts each once every child
// it depends on is Running (for one with a ready probe: ready). Each
// child waits in a goroutine of its own, so a dependency that never comes
// up holds up its dependents only; a dependency that goes down later does
// not stop them. The waits end with Run's context. The channel returned
// closes once every child of specs was started (or its wait ended).
func (s *Supervisor) startAll(specs []config.ChildSpec) <-chan struct{} {
	var batch sync.WaitGroup
	done := make(chan struct{})
	defer func() { s.starters.Go(func() { batch.Wait(); close(done) }) }()
	added := make([]*child, len(specs))
	for i, sp := range specs {
		added[i] = s.addChild(sp)
	}
	for i, c := range added {
		var deps []*child
		for _, d := range specs[i].DependsOn {
			if dc := s.child(d); dc != nil && dc != c {
				deps = append(deps, dc)
			}
		}
		batch.Add(1)
		s.starters.Go(func() { defer batch.Done(); s.startAfter(c, deps) })
	}
	return done
}

// startAfter starts c once every one of deps is Running.
func (s *Supervisor) startAfter(c *child, deps []*child) {
	for _, d := range deps {
		if d.status().State != Running {
			c.update(func(st *ChildStatus) { st.WaitingFor = d.name })
			c.log.Info().Str("for", d.name).Msgf("%s waits for %s to be running", c.name, d.name)
		}
		if !d.waitFor(s.runCtx, Running) {
			return // shutdown, or d was removed
		}
	}
	c.update(func(st *ChildStatus) { st.WaitingFor = "" })
	c.call(s.runCtx, request{kind: reqStart}) //nolint:errcheck // failures are logged and retried by the child
}

// addChild creates a child and its owner goroutine.
func (s *Supervisor) addChild(spec config.ChildSpec) *child {
	c := newChild(s, spec)
	ctx, cancel := context.WithCancel(s.ctx)
	s.mu.Lock()
	s.children[spec.Name] = c
	s.cancel[spec.Name] = cancel
	s.mu.Unlock()
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		c.run(ctx)
	}()
	return c
}

// removeChild stops a child's goroutine after it has been stopped.
func (s *Supervisor) removeChild(name string) {
	s.mu.Lock()
	cancel := s.cancel[name]
	c := s.children[name]
	delete(s.children, name)
	delete(s.cancel, name)
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-c.done
		c.mu.Lock()
		restarts, byReason := c.snap.Restarts, maps.Clone(c.snap.RestartsBy)
		c.mu.Unlock()
		s.past.keep(name, restarts, byReason) // a child added again counts on
	}
}

// shutdown stops every child: reverse dependency order, concurrently within
// a level.
func (s *Supervisor) shutdown() {
	s.reloadMu.Lock() // wait for a reload in progress; refuse later ones
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.reloadMu.Unlock()
	s.mu.Lock()
	specs := s.cfg.Children
	s.mu.Unlock()
	s.stopInReverse(context.Background(), specs, func(string) bool { return true }, history.ReasonShutdown)
}

// stopInReverse stops the children of specs that pick selects: dependents
// before their dependencies, concurrently within one dependency level. It
// returns the names of the children it stopped.
func (s *Supervisor) stopInReverse(ctx context.Context, specs []config.ChildSpec, pick func(name string) bool, reason history.Reason) []string {
	var stopped []string
	levels, _ := config.StartLevels(specs)
	for i := len(levels) - 1; i >= 0; i-- {
		var wg sync.WaitGroup
		for _, name := range levels[i] {
			c := s.child(name)
			if c == nil || !pick(name) {
				continue
			}
			stopped = append(stopped, name)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.call(ctx, request{kind: reqStop, reason: reason}) //nolint:errcheck // logged by the child
			}()
		}
		wg.Wait()
	}
	return stopped
}

func (s *Supervisor) child(name string) *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.children[name]
}

// copyOutput copies the lines of f, c's stdout (or with stderr its
// stderr), to where its spec says they go and to tail, the process's,
// until the pipe ends.
func (s *Supervisor) copyOutput(f *os.File, c *child, stderr bool, tail *outputTail) {
	q, prefix := s.outputQueue(&c.spec, stderr)
	if err := s.out.add(f, prefix, q, &c.tap, tail, stderr); err != nil {
		tail.copied()
		c.log.Error().Err(err).Bool("stderr", stderr).Msg("child output not copied")
	}
}

// outputQueue returns the queue for a child's stdout (or stderr) and the
// prefix of its lines: resreap's own stdout or stderr with the child's
// name, or the child's file, unprefixed. A file output is opened once per
// setting and kept until shutdown; children with the same setting share
// it, and stdout and stderr may.
func (s *Supervisor) outputQueue(spec *config.ChildSpec, stderr bool) (*lineQueue, string) {
	o, q := spec.Stdout, s.stdout
	if stderr {
		o, q = spec.Stderr, s.stderr
	}
	if o.Mode != config.OutputFile {
		return q, spec.Name + " | "
	}
	f, err := s.fileOutput(spec, o)
	if err != nil {
		// The start resolved it a moment ago (openOutputs): an owner
		// removed since. Keep the lines, in resreap's own output.
		s.log.Error().Err(err).Str("child", spec.Name).Str("file", o.File).Msg("output file unusable; lines go to resreap's own output")
		return q, spec.Name + " | "
	}
	return f.q, ""
}

// closeOutputs ends the output copies. A pipe stays open while any
// process holds its write end (a grandchild that left the process group,
// say), so after a grace period the others are ended. Then what is
// queued is written out, and the files closed.
func (s *Supervisor) closeOutputs() {
	s.out.drain(2 * time.Second)
	s.out.close()
	s.stdout.close()
	s.stderr.close()
	s.mu.Lock()
	files := s.files
	s.files = map[fileKey]*fileOutput{}
	s.mu.Unlock()
	for _, f := range files {
		f.close()
	}
}

// record hands an event to the recorder: it is written to the history,
// then logged with ev, without the caller waiting for either.
func (s *Supervisor) record(ev *zerolog.Event, rec history.Record) {
	rec.Time = time.Now().UTC()
	s.rec.add(ev, rec)
}
