//go:build linux

package watch

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/signame"
)

// Usage is the help text of "resreap watch". The flags are those of the
// old watchdog, so that its users keep their command lines.
const Usage = `usage: resreap watch [flags]

Kill processes that have enough CLOSE_WAIT socket(s)
  -f, --pattern PAT        only processes whose full command line matches the regexp PAT
  -F, --foreign HOST:PORT  ignore CLOSE_WAIT sockets whose foreign endpoint matches (repeatable;
                           also the CIDR / [v6]:port / :port forms of the config)
  -l, --limit N            act when a process has >= N persistent CLOSE_WAIT sockets (default 2)
  -i, --interval N         seconds between checks (default 2; fractions allowed)
  -c, --command CMD        run CMD with /bin/sh before signalling; non-zero exit = skip this time.
                           The environment carries pid=PID (as the old tool did) and RESREAP_PID,
                           RESREAP_REASON, RESREAP_EVIDENCE; its output goes to the log
      --command-timeout SEC  kill the -c command after SEC seconds, which is a veto (default 60)
  -s, --signal SIG         first signal (default TERM)
  -S, --pre-signal SIG     extra signal sent before -s (e.g. QUIT for a JVM thread dump)
  -w, --wait SEC           seconds between each signal and the next / SIGKILL (default 2)
  -o, --openmax N|N%       also act when a process has >= N open files, or >= N% of its
                           RLIMIT_NOFILE (off by default)
  -p, --psfilter ARGS      select the -o candidates as ` + "`ps ARGS`" + ` would (e.g. "-C java");
                           without it -o applies to the -f candidates
  -d, --dry-run            log what would be done, signal nothing
  -D, --debug              debug output (every scan, every candidate and why it was skipped)
      --once               one judgement (two scans, an interval apart): print the verdicts, exit 1
                           if any process would be acted on, 0 if none. A check: it never runs -c
                           and never signals, unless --act is given too
      --act                with --once: act on the verdicts of that one judgement (-c, then the signals)
      --json               verdicts and events as JSON lines
      --history FILE       append events to a restart-history file (same format as resreap run)
      --source KIND        where CLOSE_WAIT sockets come from: auto (BPF events when they load,
                           else the dump; the dump with --once), bpf or dump (default auto)
      --reader KIND        the dump: auto (netlink, else /proc), netlink or proc (default auto)
  -h, --help               this help
  -v, --version            print the version

The one-letter flags are the old watchdog's, so its command lines keep
working: here -c is a command, -s a signal and -f a pattern, while in the
other resreap commands -c is a config file, -s a socket and -f a file.
The long forms say which.

A process is acted on when the same sockets (inode and 4-tuple) stay in
CLOSE_WAIT for two consecutive checks an interval apart. resreap itself and its ancestors are
never candidates. Signals go through a pidfd opened when the process was
judged, after checking its start time, so a reused PID is never signalled.
`

// Defaults of the flags.
const (
	DefaultInterval = 2 * time.Second
	DefaultWait     = 2 * time.Second
	// DefaultCommandTimeout bounds the -c command when --command-timeout
	// is not given (the old tool had no bound at all).
	DefaultCommandTimeout = time.Minute
	DefaultLimit          = health.DefaultThreshold
)

// ErrUsage matches (errors.Is) every error of Parse: the command line is
// wrong, and the message names the flag at fault.
var ErrUsage = errors.New("usage error")

// usageError is an error of Parse: it reads as the flag's message alone
// and is ErrUsage to errors.Is.
type usageError struct{ err error }

func (e *usageError) Error() string        { return e.err.Error() }
func (e *usageError) Unwrap() error        { return e.err }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

// OpenMax is the -o threshold: an absolute count of open files, or a
// fraction of the process's soft RLIMIT_NOFILE. The zero value is off.
type OpenMax struct {
	Count int     // act at >= Count open files; 0 = not by count
	Ratio float64 // act at >= Ratio * RLIMIT_NOFILE (0.9 for "90%"); 0 = not by ratio
}

// Enabled reports whether -o was given.
func (o OpenMax) Enabled() bool { return o.Count > 0 || o.Ratio > 0 }

// String renders the threshold as it is written on the command line.
func (o OpenMax) String() string {
	switch {
	case o.Count > 0:
		return strconv.Itoa(o.Count)
	case o.Ratio > 0:
		return strconv.FormatFloat(o.Ratio*100, 'f', -1, 64) + "%"
	}
	return ""
}

// Options is a parsed "resreap watch" command line. Start from Parse or
// DefaultOptions; in the zero value, Run falls back to the defaults for
// Interval, Limit, Signal and Reader, but Wait 0 means no grace period
// before SIGKILL.
type Options struct {
	Pattern  *regexp.Regexp    // -f; nil selects every process
	Ignore   health.IgnoreList // -F
	Limit    int               // -l
	Interval time.Duration     // -i
	Command  string            // -c; "" runs no hook
	// CommandTimeout bounds the -c command (--command-timeout); it is then
	// killed, and that is a veto.
	CommandTimeout time.Duration
	Signal         unix.Signal   // -s
	PreSignal      unix.Signal   // -S; 0 sends none
	Wait           time.Duration // -w
	OpenMax        OpenMax       // -o
	PSFilter       []string      // -p, split into ps arguments; nil = -o applies to the -f candidates
	DryRun         bool          // -d
	Debug          bool          // -D
	Once           bool          // --once: one judgement, a check unless Act
	Act            bool          // --act: with --once, act on that judgement's verdicts
	JSON           bool          // --json
	History        string        // --history; "" writes no history
	Source         string        // --source: health.SourceAuto, SourceBPF or SourceDump
	Reader         string        // --reader: health.ReaderAuto, ReaderNetlink or ReaderProc
	Help           bool          // -h: the caller prints Usage
	Version        bool          // -v: the caller prints its version
}

// DefaultOptions returns the options of an empty command line.
func DefaultOptions() Options {
	return Options{
		Limit:          DefaultLimit,
		Interval:       DefaultInterval,
		Signal:         unix.SIGTERM,
		Wait:           DefaultWait,
		CommandTimeout: DefaultCommandTimeout,
		Source:         health.SourceAuto,
		Reader:         health.ReaderAuto,
	}
}

// rawFlags holds the flag values as typed, before validation, so that every
// error can say which flag and which value are wrong.
type rawFlags struct {
	pattern, limit, interval, signal, preSignal, wait, openMax, psFilter, reader, source, commandTimeout string
	foreign                                                                                              []string
}

// Parse reads the command line of "resreap watch" (without the command
// name). It does no I/O. Every error matches ErrUsage and is one line that
// names the flag, e.g. `-l/--limit: want a whole number >= 1, not "x"`.
func Parse(args []string) (Options, error) {
	o := DefaultOptions()
	var r rawFlags
	fs := flagSet(&o, &r)
	if err := fs.Parse(args); err != nil {
		return Options{}, &usageError{err}
	}
	if o.Help || o.Version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return Options{}, &usageError{fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))}
	}
	if err := r.apply(fs, &o); err != nil {
		return Options{}, &usageError{err}
	}
	return o, nil
}

// Flags returns the flags of "resreap watch" as Parse defines them, for
// the shell completions and the man page; Usage describes them.
func Flags() *pflag.FlagSet {
	o := DefaultOptions()
	return flagSet(&o, &rawFlags{})
}

// flagSet defines the flags of "resreap watch" into o and r.
func flagSet(o *Options, r *rawFlags) *pflag.FlagSet {
	fs := pflag.NewFlagSet("watch", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	fs.StringVarP(&r.pattern, "pattern", "f", "", "only processes whose full command line matches the regexp")
	fs.StringArrayVarP(&r.foreign, "foreign", "F", nil, "ignore CLOSE_WAIT sockets whose foreign endpoint matches (repeatable)")
	fs.StringVarP(&r.limit, "limit", "l", "", "act when a process has at least N persistent CLOSE_WAIT sockets")
	fs.StringVarP(&r.interval, "interval", "i", "", "seconds between checks")
	fs.StringVarP(&o.Command, "command", "c", "", "run this command with /bin/sh before signalling; non-zero exit = skip")
	fs.StringVar(&r.commandTimeout, "command-timeout", "", "kill the -c command after this many seconds (a veto)")
	fs.StringVarP(&r.signal, "signal", "s", "", "first signal")
	fs.StringVarP(&r.preSignal, "pre-signal", "S", "", "extra signal sent before -s")
	fs.StringVarP(&r.wait, "wait", "w", "", "seconds between each signal and the next / SIGKILL")
	fs.StringVarP(&r.openMax, "openmax", "o", "", "also act at N open files, or N% of RLIMIT_NOFILE")
	fs.StringVarP(&r.psFilter, "psfilter", "p", "", "select the -o candidates as ps ARGS would")
	fs.BoolVarP(&o.DryRun, "dry-run", "d", false, "log what would be done, signal nothing")
	fs.BoolVarP(&o.Debug, "debug", "D", false, "debug output")
	fs.BoolVar(&o.Once, "once", false, "one judgement: print the verdicts, exit 1 if any process would be acted on")
	fs.BoolVar(&o.Act, "act", false, "with --once: act on the verdicts")
	fs.BoolVar(&o.JSON, "json", false, "verdicts and events as JSON lines")
	fs.StringVar(&o.History, "history", "", "append events to a restart-history file")
	fs.StringVar(&r.source, "source", "", "where CLOSE_WAIT sockets come from: auto, bpf or dump")
	fs.StringVar(&r.reader, "reader", "", "socket reader: auto, netlink or proc")
	fs.BoolVarP(&o.Help, "help", "h", false, "this help")
	fs.BoolVarP(&o.Version, "version", "v", false, "print the version")
	return fs
}

// apply validates the flags that were given and stores them in o.
func (r *rawFlags) apply(fs *pflag.FlagSet, o *Options) error {
	var err error
	set := fs.Changed
	if set("pattern") {
		if o.Pattern, err = regexp.Compile(r.pattern); err != nil {
			return fmt.Errorf("-f/--pattern: bad regexp: %w", err)
		}
	}
	if set("foreign") {
		if o.Ignore, err = health.ParseIgnore(r.foreign); err != nil {
			return fmt.Errorf("-F/--foreign: %w", err)
		}
	}
	if set("limit") {
		if o.Limit, err = strconv.Atoi(strings.TrimSpace(r.limit)); err != nil || o.Limit < 1 {
			return fmt.Errorf("-l/--limit: want a whole number >= 1, not %q", r.limit)
		}
	}
	if set("interval") {
		if o.Interval, err = parseSeconds(r.interval); err != nil || o.Interval <= 0 {
			return fmt.Errorf("-i/--interval: want seconds > 0 (e.g. 2 or 0.5), not %q", r.interval)
		}
	}
	if set("command") && strings.TrimSpace(o.Command) == "" {
		return errors.New("-c/--command: empty command")
	}
	if set("command-timeout") {
		if o.CommandTimeout, err = parseSeconds(r.commandTimeout); err != nil || o.CommandTimeout <= 0 {
			return fmt.Errorf("--command-timeout: want seconds > 0 (e.g. 30 or 1m), not %q", r.commandTimeout)
		}
	}
	if set("signal") {
		if o.Signal, err = signame.Parse(r.signal); err != nil {
			return fmt.Errorf("-s/--signal: %w", err)
		}
	}
	if set("pre-signal") {
		if o.PreSignal, err = signame.Parse(r.preSignal); err != nil {
			return fmt.Errorf("-S/--pre-signal: %w", err)
		}
	}
	if set("wait") {
		if o.Wait, err = parseSeconds(r.wait); err != nil || o.Wait < 0 {
			return fmt.Errorf("-w/--wait: want seconds >= 0 (e.g. 2 or 0.5), not %q", r.wait)
		}
	}
	if set("openmax") {
		if o.OpenMax, err = parseOpenMax(r.openMax); err != nil {
			return fmt.Errorf("-o/--openmax: %w", err)
		}
	}
	if set("psfilter") {
		if o.PSFilter = strings.Fields(r.psFilter); len(o.PSFilter) == 0 {
			return errors.New("-p/--psfilter: empty ps arguments")
		}
		if !o.OpenMax.Enabled() {
			return errors.New("-p/--psfilter: selects the -o/--openmax candidates, so it needs -o")
		}
	}
	if o.Act && !o.Once {
		return errors.New("--act: acts on the one judgement of --once, so it needs --once")
	}
	if set("history") && o.History == "" {
		return errors.New("--history: empty file name")
	}
	if set("reader") {
		switch r.reader {
		case health.ReaderAuto, health.ReaderNetlink, health.ReaderProc:
			o.Reader = r.reader
		default:
			return fmt.Errorf("--reader: want auto, netlink or proc, not %q", r.reader)
		}
	}
	if set("source") {
		switch r.source {
		case health.SourceAuto, health.SourceBPF, health.SourceDump:
			o.Source = r.source
		default:
			return fmt.Errorf("--source: want auto, bpf or dump, not %q", r.source)
		}
	}
	return nil
}

// parseSeconds reads "2", "0.5" (the old tool's seconds) or a Go duration
// such as "500ms".
func parseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// parseOpenMax reads "N" (open files) or "N%" (of RLIMIT_NOFILE).
func parseOpenMax(s string) (OpenMax, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f > 0 && f <= 100) {
			return OpenMax{}, fmt.Errorf("want a percentage in (0, 100], not %q", s)
		}
		return OpenMax{Ratio: f / 100}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 {
		return OpenMax{}, fmt.Errorf("want N (open files >= 1) or N%% (of RLIMIT_NOFILE), not %q", s)
	}
	return OpenMax{Count: n}, nil
}
