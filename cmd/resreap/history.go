//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

const historyUsage = `resreap history [-f FILE | -c CONFIG] [--child NAME] [--since AGE|TIME] [--until AGE|TIME]
                       [--event LIST] [-n N] [--json] [--summary] [-F]`

const historyExamples = `  resreap history -c /etc/resreap/resreap.toml --since 1h
  resreap history --child fe-server --event unhealthy,stop -n 20
  resreap history --since 2026-11-25 --until 2026-11-26 -n 0
  resreap history -F                 the last 50 events, then each new one as it is recorded
  resreap history --summary          restarts per child, by reason (every event counted)
  resreap history -n 0 --json | jq 'select(.event == "stop")'
Prints the last 50 matching events by default (-n 0: all), newest last;
times in the table are local. The file read is named on stderr: -f, else
the history_file of the config (-c, else $RESREAP_CONFIG, else
/etc/resreap/resreap.toml), else, when that default file does not
exist, /var/lib/resreap/history.jsonl. --json prints the records as the
file holds them (JSON Lines; durations in seconds); with --summary, one
object per child.
`

// defaultLast is how many events history prints without -n: a history
// grows for months, and an operator wants the latest first.
const defaultLast = 50

// historyFlagValues are the flags of "resreap history" as typed.
type historyFlagValues struct {
	file, config, child, since, until, event string
	last                                     int
	json, summary, follow                    bool
}

// historyFlags returns the flags of "resreap history" and where they are
// stored.
func historyFlags() (*pflag.FlagSet, *historyFlagValues) {
	var v historyFlagValues
	fs := newFlagSet("history")
	fs.StringVarP(&v.file, "file", "f", "", "read the history `FILE` (default: the config's history_file)")
	fileFlag(fs, "file")
	configFlag(fs, &v.config, "read the history_file of the config")
	fs.StringVar(&v.child, "child", "", "only the child `NAME`")
	fs.StringVar(&v.since, "since", "", "only events since `AGE|TIME`: 1h, 30m, 2d, an RFC 3339 time or a date")
	fs.StringVar(&v.until, "until", "", "only events until `AGE|TIME` (inclusive), as --since")
	fs.StringVar(&v.event, "event", "", "only the events in `LIST`, comma-separated (restart,stop)")
	values(fs, "event", eventNames()...)
	fs.IntVarP(&v.last, "last", "n", defaultLast, "only the last `N` events (0 = all; --summary counts all unless given)")
	fs.BoolVar(&v.json, "json", false, "print JSON Lines: the records, or with --summary one object per child")
	fs.BoolVar(&v.summary, "summary", false, "print restarts per child instead of events")
	fs.BoolVarP(&v.follow, "follow", "F", false, "after the last events, print each new one as it is recorded, across rotations, until ^C")
	return fs, &v
}

// eventNames are the events --event takes.
func eventNames() []string {
	var out []string
	for _, e := range history.Events() {
		out = append(out, string(e))
	}
	return out
}

// historyArgs are the parsed flags of "resreap history".
type historyArgs struct {
	file    string
	source  string // how file was chosen, for the line that names it
	filter  history.Filter
	json    bool
	summary bool
	follow  bool
}

// runHistory implements "resreap history" and returns the exit code: 0 ok,
// 1 the history cannot be read, 2 a usage or configuration error.
func runHistory(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return historyCmd(ctx, args, stdout, stderr)
}

func historyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a, err := parseHistoryArgs(args, stdout, time.Now())
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "resreap history: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "resreap history: %s%s\n", a.file, a.source)
	if !a.follow {
		recs, warns, err := history.Read(a.file, a.filter)
		return printHistory(a, recs, warns, err, stdout, stderr)
	}
	recs, warns, fl, err := history.Follow(a.file, a.filter)
	if exit := printHistory(a, recs, warns, err, stdout, stderr); exit != 0 {
		return exit
	}
	defer fl.Close()
	return followHistory(ctx, a, fl, stdout, stderr)
}

// printHistory prints what Read or Follow returned and returns the exit
// status.
func printHistory(a historyArgs, recs []history.Record, warns []history.Warning, err error, stdout, stderr io.Writer) int {
	for _, w := range warns {
		fmt.Fprintf(stderr, "resreap history: warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "resreap: %v\n", err) // err says "history: ..."
		return 1
	}
	switch {
	case a.summary && a.json:
		err = history.WriteSummaryJSON(stdout, recs)
	case a.summary:
		err = history.WriteSummary(stdout, recs)
	case a.json:
		err = history.WriteJSON(stdout, recs)
	default:
		err = history.WriteTable(stdout, recs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "resreap history: write output: %v\n", err)
		return 1
	}
	return 0
}

// followHistory prints each record written to the history from now on,
// the table's columns as wide as they are when it starts, until ctx is
// done.
func followHistory(ctx context.Context, a historyArgs, fl *history.Follower, stdout, stderr io.Writer) int {
	w, err := newWaker(a.file)
	if err != nil {
		fmt.Fprintf(stderr, "resreap history: %v; looking at %s every %s instead\n", err, a.file, followPoll)
	}
	defer w.close()
	table := history.NewTableWriter(io.Discard)
	if !a.json {
		table = history.NewTableWriter(stdout)
	}
	for {
		recs, warns, err := fl.Next()
		for _, w := range warns {
			fmt.Fprintf(stderr, "resreap history: warning: %s\n", w)
		}
		if err != nil {
			fmt.Fprintf(stderr, "resreap: %v\n", err)
			return 1
		}
		if len(recs) > 0 {
			if a.json {
				err = history.WriteJSON(stdout, recs)
			} else {
				err = table.Write(recs)
			}
			if err != nil {
				fmt.Fprintf(stderr, "resreap history: write output: %v\n", err)
				return 1
			}
		}
		if w.wait(ctx) != nil {
			return 0 // ^C
		}
	}
}

// parseHistoryArgs turns the command line into a file and a filter. Errors
// name the flag at fault; --help prints the usage to stdout and returns
// pflag.ErrHelp.
func parseHistoryArgs(args []string, stdout io.Writer, now time.Time) (historyArgs, error) {
	fs, v := historyFlags()
	switch err := fs.Parse(args); {
	case err != nil:
		return historyArgs{}, err // said in one line by the caller
	case flagSet(fs, "help"):
		writeHelp(stdout, fs, historyUsage, historyExamples)
		return historyArgs{}, pflag.ErrHelp // done, exit 0
	case flagSet(fs, "version"):
		fmt.Fprintln(stdout, "resreap", version)
		return historyArgs{}, pflag.ErrHelp
	}
	a := historyArgs{file: v.file, json: v.json, summary: v.summary, follow: v.follow,
		filter: history.Filter{Child: v.child, Last: v.last}}
	switch {
	case fs.NArg() > 0:
		return a, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case v.file != "" && v.config != "":
		return a, errors.New("-f/--file and -c/--config cannot be combined")
	case v.follow && v.summary:
		return a, errors.New("--follow and --summary cannot be combined")
	case v.follow && fs.Changed("until"):
		return a, errors.New("--follow and --until cannot be combined: nothing new is ever older than --until")
	case v.last < 0:
		return a, fmt.Errorf("-n/--last: %d is negative", v.last)
	}
	if v.summary && !fs.Changed("last") {
		a.filter.Last = 0 // a tally counts every restart
	}
	for _, b := range []struct {
		flag string
		text string
		dst  *time.Time
	}{{"since", v.since, &a.filter.Since}, {"until", v.until, &a.filter.Until}} {
		if !fs.Changed(b.flag) {
			continue
		}
		t, err := history.ParseSince(b.text, now)
		if err != nil {
			return a, fmt.Errorf("--%s: %w", b.flag, err)
		}
		*b.dst = t
	}
	if fs.Changed("event") {
		evs, err := history.ParseEvents(v.event)
		if err != nil {
			return a, fmt.Errorf("--event: %w", err)
		}
		a.filter.Events = evs
	}
	if a.file != "" {
		return a, nil
	}
	file, source, err := historyFile(pickConfig(v.config))
	a.file, a.source = file, source
	return a, err
}

// historyFile is the history of the config file c and how it was chosen,
// for the line that names it: the config's history_file, or, when c is
// the default file and it does not exist, the default history.
func historyFile(c configFile) (file, source string, err error) {
	if c.missingDefault() {
		return history.DefaultPath, " (the default: there is no " + c.path + ")", nil
	}
	sc, err := config.LoadSupervisor(c.path)
	if err != nil {
		flag := "-c/--config"
		if c.from != fromFlag {
			flag = c.String()
		}
		return "", "", fmt.Errorf("%s: %w", flag, err)
	}
	return sc.HistoryFile, " (history_file of " + c.String() + ")", nil
}
