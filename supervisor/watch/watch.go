//go:build linux

package watch

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/procfs"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cadence"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/signame"
)

// Env is what Run takes from its caller besides the options.
type Env struct {
	// Stdout receives the verdicts and events, as text lines or, with
	// Options.JSON, as JSON lines in the restart-history format. nil
	// discards them.
	Stdout io.Writer
	// Log receives diagnostics, the -c command's output and, with
	// Options.Debug, every scan and candidate. The zero Logger discards.
	Log zerolog.Logger
	// ProcRoot is the proc file system to read; "" means "/proc".
	ProcRoot string
	// History receives every event; nil opens Options.History when it is
	// set (and writes no history otherwise).
	History Appender
	// Reaper starts the -c command; nil makes a proc.NewPIDReaper
	// when -c is given. The watch runs ps with os/exec, so it must not be
	// the process-wide subreaper.
	Reaper *proc.Reaper
}

// Summary is what Run did.
type Summary struct {
	Scans      int
	Candidates int // candidates of the last scan
	// Verdicts counts the unhealthy verdicts: processes acted on, or that
	// would have been in a dry run.
	Verdicts int
	Stopped  int // processes that exited after the escalation
	Reader   string
	// ByCgroup counts the CLOSE_WAIT sockets given to candidates by their
	// cgroup id (candidates alone in their cgroup), over all scans.
	ByCgroup int
	// FDTables counts the fd tables read to find the owners of CLOSE_WAIT
	// sockets, over all scans.
	FDTables int
}

// Run watches until ctx is done (or, with Options.Once, for one judgement:
// health.DefaultPersist scans Options.Interval apart) and acts on every
// unhealthy candidate: the -c command, then the escalation. It returns an
// error only when it cannot work at all (no socket reader, no /proc, the
// history file cannot be opened); a cancelled ctx is a normal end.
func Run(ctx context.Context, o Options, env Env) (Summary, error) {
	w, err := newWatcher(o, env)
	if err != nil {
		return Summary{}, err
	}
	defer w.close()
	src := w.scan.Source()
	w.log.Info().Str("reader", src.Name).Str("source_why", src.Why).Str("pattern", patternText(o)).Int("limit", o.Limit).
		Str("interval", w.opts.Interval.String()).Str("openmax", o.OpenMax.String()).Bool("dry_run", o.DryRun).Bool("check_only", w.checkOnly()).
		Msg("watching")
	scans := 0
	if o.Once {
		scans = health.DefaultPersist
	}
	// At a fixed rate (internal/cadence): a scan that acts on a process,
	// waiting out its escalation, or that starts late, does not push the
	// next one, and each is stamped with its due time.
	sched := cadence.New(time.Now(), w.opts.Interval)
	for i := 0; scans == 0 || i < scans; i++ {
		if !sched.Wait(ctx) {
			return w.summary(), nil
		}
		if err := w.tick(ctx, sched.Stamp(time.Now())); err != nil {
			return w.summary(), err
		}
		if ctx.Err() != nil {
			return w.summary(), nil
		}
		sched.Advance(time.Now())
	}
	if o.Once && !o.JSON && w.sum.Verdicts == 0 {
		fmt.Fprintf(w.ev.out, "no process to act on (%d candidates, reader %s)\n", w.sum.Candidates, w.sum.Reader)
	}
	return w.summary(), nil
}

// watcher is the state of one Run.
type watcher struct {
	opts     Options
	procRoot string
	reaper   *proc.Reaper // starts the -c command
	log      zerolog.Logger
	sel      *selector
	cg       *cgroups
	scan     *health.Scanner
	ev       *emitter
	hist     *history.Writer // opened by Run, written only through ev, closed after the last action
	boot     time.Time       // for uptimes; zero if unknown
	psWarned string          // last -p error logged, so a broken ps is not logged every scan

	mu  sync.Mutex
	sum Summary
}

func newWatcher(o Options, env Env) (*watcher, error) {
	root := env.ProcRoot
	if root == "" {
		root = "/proc"
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Signal == 0 {
		o.Signal = DefaultOptions().Signal
	}
	pfs, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &watcher{opts: o, procRoot: root, log: env.Log, reaper: env.Reaper}
	if w.reaper == nil && o.Command != "" {
		w.reaper = proc.NewPIDReaper(env.Log)
	}
	files := newProcFiles(root, 4096)
	w.sel = &selector{procRoot: root, files: files, dirBuf: make([]byte, 16<<10), pattern: o.Pattern,
		fds: o.OpenMax.Enabled(), psFilter: o.PSFilter, self: os.Getpid(), runPS: runPS}
	w.cg = newCgroups(root, files)
	src, why := o.Source, ""
	if o.Once && src == health.SourceAuto {
		// Two snapshots: loading the event source (the kernel's BTF, the
		// program, a first dump to fill its map) costs more than the
		// second dump it would save.
		src, why = health.SourceDump, "--once: two snapshots, and the event source costs more to load than a dump"
	}
	scan, err := health.NewScanner(health.ScannerOptions{ProcRoot: root, Source: src, SourceWhy: why, Reader: o.Reader, Log: env.Log})
	if err != nil {
		return nil, err
	}
	w.scan = scan
	w.sum.Reader = scan.Reader()
	out := env.Stdout
	if out == nil {
		out = io.Discard
	}
	w.ev = &emitter{out: out, json: o.JSON, hist: env.History, log: env.Log}
	if env.History == nil && o.History != "" {
		if w.hist, err = history.Open(o.History, history.Options{}); err != nil {
			scan.Close()
			return nil, err
		}
		w.ev.hist = w.hist
	}
	if st, err := pfs.Stat(); err == nil {
		w.boot = time.Unix(int64(st.BootTime), 0)
	}
	return w, nil
}

func (w *watcher) close() {
	w.scan.Close()
	if w.hist != nil {
		if err := w.hist.Close(); err != nil {
			w.log.Error().Err(err).Msg("close history")
		}
	}
}

func (w *watcher) summary() Summary {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sum
}

// tick is one scan, due at at: list the candidates, judge them all at
// once, act on the unhealthy ones concurrently (each escalation waits on
// its own process), and return when every action is done.
func (w *watcher) tick(ctx context.Context, at time.Time) error {
	t0 := time.Now()
	cands, psErr, err := w.sel.list(ctx)
	if err != nil {
		return err
	}
	w.notePSError(psErr)
	w.cg.newTick()
	targets := make([]health.Target, len(cands))
	for i, c := range cands {
		targets[i] = w.target(c)
	}
	w.scan.Prune(targets) // processes that are gone, or no longer match
	res := w.scan.ScanAt(targets, at)
	for i, r := range res {
		if targets[i].Cgroup != 0 {
			nameSamples(r, cands[i].PID)
		}
	}
	w.mu.Lock()
	w.sum.Scans++
	w.sum.Candidates = len(cands)
	st := w.scan.Stats()
	w.sum.ByCgroup, w.sum.FDTables = st.ByCgroup, st.FDTables
	w.mu.Unlock()
	if w.log.GetLevel() <= zerolog.DebugLevel {
		w.debugScan(cands, res, time.Since(t0))
	}
	var wg sync.WaitGroup
	for i, r := range res {
		if r.Verdict == nil {
			continue
		}
		w.mu.Lock()
		w.sum.Verdicts++
		w.mu.Unlock()
		wg.Add(1)
		go func(c candidate, ev *health.Evidence) {
			defer wg.Done()
			if w.act(ctx, c, ev) == nil && !w.checkOnly() {
				w.mu.Lock()
				w.sum.Stopped++
				w.mu.Unlock()
			}
		}(cands[i], r.Verdict)
	}
	wg.Wait()
	return nil
}

// target turns a candidate into what the Scanner judges: the process
// alone (a process resreap does not own has no known process tree to
// extend to), with the checks it was selected for. A candidate checked for
// CLOSE_WAIT that is alone in its cgroup gets that cgroup (see cgroups),
// but not CgroupOnly: a socket-activated service holds connections
// accepted on systemd's listener, which carry systemd's cgroup id, so a
// socket of no candidate's cgroup is still looked for in its fd table.
func (w *watcher) target(c candidate) health.Target {
	o := w.opts
	var id uint64
	var dir string
	if c.CloseWait {
		id, dir, _ = w.cg.alone(c.PID)
	}
	return health.Target{
		Name:      c.key(),
		PID:       c.PID,
		Cgroup:    id,
		CgroupDir: dir,
		Interval:  o.Interval,
		Policy: health.Policy{
			CloseWait: health.CloseWaitPolicy{
				Threshold: o.Limit,
				Persist:   health.DefaultPersist,
				Ignore:    o.Ignore,
				Disabled:  !c.CloseWait,
			},
			FDs: health.FDPolicy{
				MaxRatio: o.OpenMax.Ratio,
				MaxOpen:  o.OpenMax.Count,
				Persist:  health.DefaultPersist,
				Disabled: !c.FDs,
			},
		},
	}
}

func (w *watcher) notePSError(err error) {
	switch {
	case err == nil:
		w.psWarned = ""
	case err.Error() != w.psWarned:
		w.psWarned = err.Error()
		w.log.Warn().Err(err).Msg("cannot select the -o candidates; the fd check skips them")
	}
}

func (w *watcher) debugScan(cands []candidate, res []health.Result, took time.Duration) {
	st := w.scan.Stats()
	w.log.Debug().Int("candidates", len(cands)).Str("took", took.Round(time.Microsecond).String()).Str("reader", w.scan.Reader()).
		Int("fd_walks", st.FDWalks).Int("fd_tables", st.FDTables).Msg("scan")
	for i, r := range res {
		c := cands[i]
		e := w.log.Debug().Int("pid", c.PID).Str("comm", c.Comm).Int("close_wait", r.CloseWait)
		if r.FDs.PID != 0 {
			e = e.Int("fds", r.FDs.Open).Uint64("fd_limit", r.FDs.Limit)
		}
		if r.Verdict != nil {
			e.Str("verdict", string(r.Verdict.Reason)).Msg("candidate")
			continue
		}
		e.Str("skipped", w.whyHealthy(c, r)).Msg("candidate")
	}
}

// whyHealthy says why a candidate is left alone, for -D.
func (w *watcher) whyHealthy(c candidate, r health.Result) string {
	var why []string
	if c.CloseWait {
		why = append(why, fmt.Sprintf("%d persistent CLOSE_WAIT < limit %d", r.CloseWait, w.opts.Limit))
	}
	if c.FDs {
		why = append(why, fmt.Sprintf("fds %d/%d not over -o %s for %d scans", r.FDs.Open, r.FDs.Limit, w.opts.OpenMax, health.DefaultPersist))
	}
	return strings.Join(why, "; ")
}

func patternText(o Options) string {
	if o.Pattern == nil {
		return "(all processes)"
	}
	return o.Pattern.String()
}

// plan is the escalation of the options: -S, -s, each followed by -w,
// then SIGKILL (which the escalation always adds, so -s KILL is not sent
// twice).
func (w *watcher) plan() proc.Plan {
	p := proc.Plan{KillWait: killWait}
	for _, sig := range []unix.Signal{w.opts.PreSignal, w.opts.Signal} {
		if sig != 0 && sig != unix.SIGKILL {
			p.Steps = append(p.Steps, proc.Step{Signal: sig, Wait: w.opts.Wait})
		}
	}
	return p
}

// killWait bounds the wait for a watched process after SIGKILL.
const killWait = 5 * time.Second

func planText(p proc.Plan) string {
	var names []string
	for _, s := range p.Steps {
		names = append(names, signame.Name(s.Signal))
	}
	return strings.Join(append(names, "KILL"), ", then ")
}
