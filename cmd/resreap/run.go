//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/supervisor"
	"github.com/resreap/resreap/supervisor/control"
	"github.com/resreap/resreap/supervisor/metrics"
)

// reloadExitWait bounds how long exit waits for a reload that has not
// returned once shutdown is over: by then it can only be finishing its
// log lines.
const reloadExitWait = 2 * time.Second

const runExamples = `  resreap run -c /etc/resreap/resreap.toml
  resreap run -c configs/demo.toml --dry-run --log-format console
signals: TERM or INT stop every child and exit 0 (a second INT kills them
at once); HUP reloads the file. Exit status: 0 after a clean stop, 1 when
it cannot run (another resreap owns the socket or state_dir), 2 for a
usage or config error (a path resreap writes as root that another user
could redirect included: see resreap check).
`

const runUsage = "resreap run [-c FILE] [--dry-run] [--debug] [--log-format auto|console|json]"

// runFlagValues are the flags of "resreap run".
type runFlagValues struct {
	config    string
	dryRun    bool
	debug     bool
	logFormat string
}

// runFlags returns the flags of "resreap run" and where they are stored.
func runFlags() (*pflag.FlagSet, *runFlagValues) {
	var o runFlagValues
	fs := newFlagSet("run")
	configFlag(fs, &o.config, "supervise the children of the config")
	fs.BoolVar(&o.dryRun, "dry-run", false, "log every signal and restart it would do; do none")
	fs.BoolVar(&o.debug, "debug", false, "debug logging")
	fs.StringVar(&o.logFormat, "log-format", "auto", "log format: auto (console on a terminal, else json), console, json; console has no colour when NO_COLOR is set or the log is not a terminal")
	values(fs, "log-format", "auto", "console", "json")
	return fs, &o
}

// runRun supervises the children of a config file until SIGTERM or SIGINT.
func runRun(args []string, stdout, stderr io.Writer) int {
	fs, o := runFlags()
	if exit, ok := parseArgs(fs, args, runUsage, runExamples, stdout, stderr); !ok {
		return exit
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "resreap run: unexpected argument %q\nusage: %s\n", fs.Arg(0), runUsage)
		return 2
	}
	survivePipeReaders()
	setGCPercent()
	// Caught from the start: until then TERM, INT or HUP would kill
	// resreap (HUP's default action) while it sets up.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	defer signal.Stop(sigs)
	log, closeLog, err := newLogger(stderr, o.logFormat, o.debug)
	if err != nil {
		fmt.Fprintln(stderr, "resreap run:", err)
		return 2
	}
	defer closeLog()
	file := pickConfig(o.config)
	cfg, err := config.Load(file.path)
	if err == nil {
		// A path another user could turn into a root write elsewhere is
		// refused before anything starts, as Load's problems are.
		err = config.CheckPaths(cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, file.describe(err))
		return 2
	}
	// What resreap check would say of this host: each child concerned
	// backs off and says why at its start; the others run.
	var hostErr *config.Error
	if errors.As(config.CheckHost(cfg), &hostErr) {
		for _, p := range hostErr.Problems {
			log.Warn().Str("key", p.Key).Int("line", p.Line).Msg(p.Msg)
		}
	}
	reaper, err := proc.NewReaper(log)
	if err != nil {
		log.Error().Err(err).Msg("start")
		return 1
	}
	return serve(cfg, reaper, log, o.dryRun, sigs, stdout, stderr)
}

// runGCPercent is the Go collector's GOGC under resreap run. The heap of
// a supervisor is small and long-lived (5 MB live with 500 children) and
// its garbage slow (a few hundred kB a second): at the default of 100 the
// runtime lets the heap reach twice the live part before it collects, so
// RSS carried as much garbage as data (the 4 MB heap minimum alone was
// twice the live heap of 50 children). At 25 the heap stays within a
// quarter of its live part (its minimum 1 MB), for a collection every
// few seconds of 1-5 ms of CPU (bench/results.md). GOGC in the
// environment still wins.
const runGCPercent = 25

func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(runGCPercent)
	}
}

// survivePipeReaders keeps resreap alive when whoever reads its stdout or
// stderr goes away (a "| tee" that exits): with SIGPIPE caught, such a
// write fails with EPIPE instead of killing resreap and, by their
// parent-death signal, its children. It is caught, not ignored: an ignored
// signal stays ignored across exec, and the children must get the default.
// The channel is never read; delivery to it never blocks.
func survivePipeReaders() {
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
}

func serve(cfg *config.Config, reaper *proc.Reaper, log zerolog.Logger, dryRun bool, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	hist := openHistory(cfg.Supervisor, log)
	var histPath string // status counts restarts on from it
	if hist != nil {
		histPath = cfg.Supervisor.HistoryFile
	}
	scans := metrics.NewScans()
	sup := supervisor.New(cfg, supervisor.Options{Log: log, Reaper: reaper, History: hist, DryRun: dryRun,
		Stdout: stdout, Stderr: stderr, OnScan: scans.Observe, HistoryPath: histPath})

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ctlDone, err := serveControl(ctx, cfg.Supervisor, sup, log)
	if err != nil {
		return 1
	}
	defer func() { <-ctlDone }() // after stop(): Serve returns once ctx is done
	metricsDone := serveMetrics(ctx, cfg.Supervisor.MetricsListen, sup, scans, log)
	defer func() { <-metricsDone }()
	notifyDone := notifySystemd(ctx, sup, log)
	defer func() { <-notifyDone }()

	runDone := make(chan error, 1)
	go func() { runDone <- sup.Run(ctx) }()
	log.Info().Str("config", cfg.Path).Int("children", len(cfg.Children)).Bool("dry_run", dryRun).Msg("resreap started")
	return handleSignals(ctx, sup, sigs, stop, runDone, log)
}

// openHistory returns the restart history without opening it: the file is
// opened at the first event, by the supervisor's recorder, and again after
// every failure, so a history that is missing, full or slow at start
// delays no child (each failure is logged loudly, its events kept for a
// retry). The supervisor owns the Writer from then on: its recorder is the
// one goroutine that writes it, and closes it when Run is done, so nothing
// here may touch it again. (A Run that never starts leaves nothing open:
// OpenLater opens nothing.)
func openHistory(sc config.Supervisor, log zerolog.Logger) supervisor.HistorySink {
	hopts := history.Options{MaxSize: sc.HistoryMaxSize, Keep: sc.HistoryKeep}
	hist, err := history.OpenLater(sc.HistoryFile, hopts)
	if err != nil {
		log.Error().Err(err).Msg("HISTORY UNAVAILABLE")
		return nil
	}
	log.Info().Str("file", sc.HistoryFile).Msg("history file")
	return hist
}

// serveControl serves the control socket until ctx is done; the returned
// channel closes when it has stopped. Another resreap answering on the
// socket is an error; any other failure leaves resreap running without
// the socket.
func serveControl(ctx context.Context, sc config.Supervisor, sup *supervisor.Supervisor, log zerolog.Logger) (<-chan struct{}, error) {
	done := make(chan struct{})
	if sc.ControlSocket == "" {
		close(done)
		return done, nil
	}
	srv, err := control.Listen(sc.ControlSocket, control.Options{Group: sc.ControlGroup}, log)
	if err != nil {
		log.Error().Err(err).Msg("control socket")
		if errors.Is(err, control.ErrInUse) {
			return nil, err
		}
		close(done)
		return done, nil
	}
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, control.Adapt(sup)); err != nil {
			log.Error().Err(err).Msg("control socket stopped")
		}
	}()
	log.Info().Str("socket", sc.ControlSocket).Msg("control socket")
	return done, nil
}

// serveMetrics serves /metrics, /healthz and /readyz on addr until ctx is
// done; the returned channel closes when it has stopped. Without addr, or
// when addr cannot be bound, it returns a closed channel: supervision
// never depends on metrics (the failure is logged).
func serveMetrics(ctx context.Context, addr string, sup *supervisor.Supervisor, scans *metrics.Scans, log zerolog.Logger) <-chan struct{} {
	done := make(chan struct{})
	if addr == "" {
		close(done)
		return done
	}
	ln, err := metrics.Listen(addr)
	if err != nil {
		log.Error().Err(err).Msg("METRICS UNAVAILABLE: /metrics, /healthz and /readyz are not served")
		close(done)
		return done
	}
	log.Info().Str("listen", ln.Addr().String()).Msg("metrics: /metrics /healthz /readyz")
	mlog := log.With().Str("component", "metrics").Logger()
	h := metrics.Handler(metrics.NewRegistry(sup, scans, metrics.ReadBuildInfo(version)), sup, mlog)
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, ln, h); err != nil {
			mlog.Error().Err(err).Msg("metrics server stopped")
		}
	}()
	return done
}

// handleSignals runs until the supervisor has stopped: TERM and INT (read
// from sigs) stop the children (a second INT kills them at once), HUP
// reloads the config. One that came during set-up is handled now.
// It returns the exit code.
//
// A reload runs with ctx, which stop ends: one still reading the config
// file when TERM comes gives up then, and one applying it is waited for
// by the supervisor's shutdown. What is left of a reload at exit is waited
// for at most reloadExitWait: a reload never keeps resreap from exiting.
func handleSignals(ctx context.Context, sup *supervisor.Supervisor, sigs <-chan os.Signal, stop context.CancelFunc, runDone <-chan error, log zerolog.Logger) int {
	var reloads sync.WaitGroup
	defer func() {
		if !closeWithin(reloadExitWait, reloads.Wait) {
			log.Error().Msg("a reload is still running at exit; not waited for")
		}
	}()
	interrupts := 0
	for {
		select {
		case err := <-runDone:
			stop()
			if err != nil {
				log.Error().Err(err).Msg("supervisor")
				return 1
			}
			log.Info().Msg("all children stopped; exiting")
			return 0
		case sig := <-sigs:
			switch sig {
			case unix.SIGHUP:
				reloads.Go(func() {
					sup.ReloadFile(ctx) //nolint:errcheck // logged by the supervisor
				})
			case unix.SIGINT:
				interrupts++
				if interrupts > 1 {
					sup.ForceKill()
					continue
				}
				log.Info().Msg("interrupt: stopping children (interrupt again to kill them now)")
				stop()
			default:
				log.Info().Str("signal", sig.String()).Msg("stopping children")
				stop()
			}
		}
	}
}
