//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

const historyUsage = `usage: resreap history [-f FILE | -c CONFIG] [--child NAME] [--since AGE|TIME]
                       [--event LIST] [-n N] [--json | --summary]

Print the restart history, newest last. Times in the table are local.

examples:
  resreap history -c /etc/resreap/resreap.toml --since 1h
  resreap history --child fe-server --event unhealthy,stop -n 20
  resreap history --summary        restarts per child, by reason
  resreap history --json | jq 'select(.event == "stop")'

flags:
`

// historyArgs are the parsed flags of "resreap history".
type historyArgs struct {
	file    string
	filter  history.Filter
	json    bool
	summary bool
}

// runHistory implements "resreap history" and returns the exit code: 0 ok,
// 1 the history cannot be read, 2 a usage or configuration error.
func runHistory(args []string, stdout, stderr io.Writer) int {
	a, err := parseHistoryArgs(args, stdout, time.Now())
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "resreap history: %v\n", err)
		return 2
	}
	recs, warns, err := history.Read(a.file, a.filter)
	for _, w := range warns {
		fmt.Fprintf(stderr, "resreap history: warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "resreap: %v\n", err) // err says "history: ..."
		return 1
	}
	switch {
	case a.json:
		err = history.WriteJSON(stdout, recs)
	case a.summary:
		err = history.WriteSummary(stdout, recs)
	default:
		err = history.WriteTable(stdout, recs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "resreap history: write output: %v\n", err)
		return 1
	}
	return 0
}

// parseHistoryArgs turns the command line into a file and a filter. Errors
// name the flag at fault; --help prints the usage to stdout and returns
// pflag.ErrHelp.
func parseHistoryArgs(args []string, stdout io.Writer, now time.Time) (historyArgs, error) {
	var (
		a                        historyArgs
		configPath, since, event string
	)
	fs := pflag.NewFlagSet("history", pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by the caller
	fs.Usage = func() {}
	fs.StringVarP(&a.file, "file", "f", "", "read the history `FILE` (default "+history.DefaultPath+")")
	fs.StringVarP(&configPath, "config", "c", "", "take the history file from the `CONFIG` file")
	fs.StringVar(&a.filter.Child, "child", "", "only the child `NAME`")
	fs.StringVar(&since, "since", "", "only events since `AGE|TIME`: 1h, 30m, 2d or RFC 3339")
	fs.StringVar(&event, "event", "", "only the events in `LIST`, comma-separated (restart,stop)")
	fs.IntVarP(&a.filter.Last, "last", "n", 0, "only the last `N` events (0 = all)")
	fs.BoolVar(&a.json, "json", false, "print JSON Lines instead of a table")
	fs.BoolVar(&a.summary, "summary", false, "print restarts per child instead of events")
	showVersion := fs.Bool("version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, historyUsage, fs.FlagUsages())
		}
		return a, err
	}
	if *showVersion {
		fmt.Fprintln(stdout, "resreap", version)
		return a, pflag.ErrHelp // done, exit 0
	}

	switch {
	case fs.NArg() > 0:
		return a, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case a.file != "" && configPath != "":
		return a, errors.New("-f/--file and -c/--config cannot be combined")
	case a.json && a.summary:
		return a, errors.New("--json and --summary cannot be combined")
	case a.filter.Last < 0:
		return a, fmt.Errorf("-n/--last: %d is negative", a.filter.Last)
	}
	if fs.Changed("since") {
		t, err := history.ParseSince(since, now)
		if err != nil {
			return a, fmt.Errorf("--since: %w", err)
		}
		a.filter.Since = t
	}
	if fs.Changed("event") {
		evs, err := history.ParseEvents(event)
		if err != nil {
			return a, fmt.Errorf("--event: %w", err)
		}
		a.filter.Events = evs
	}
	if configPath != "" {
		sc, err := config.LoadSupervisor(configPath)
		if err != nil {
			return a, fmt.Errorf("-c/--config: %w", err)
		}
		a.file = sc.HistoryFile
	}
	if a.file == "" {
		a.file = history.DefaultPath
	}
	return a, nil
}
