//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/supervisor/watch"
)

// runWatch implements "resreap watch", the old standalone watchdog, and
// returns the exit code: 0 ok (with --once: no process to act on), 1 a
// runtime failure or, with --once, some process was (or would be) acted
// on, 2 a usage error.
func runWatch(args []string, stdout, stderr io.Writer) int {
	opts, err := watch.Parse(args)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "resreap watch: %v\n", err)
		return 2
	case opts.Help:
		fmt.Fprint(stdout, watch.Usage)
		return 0
	case opts.Version:
		fmt.Fprintln(stdout, "resreap", version)
		return 0
	}
	format := "auto"
	if opts.JSON {
		format = "json"
	}
	log, closeLog, err := newLogger(stderr, format, opts.Debug)
	if err != nil {
		fmt.Fprintln(stderr, "resreap watch:", err)
		return 2
	}
	defer closeLog()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	sum, err := watch.Run(ctx, opts, watch.Env{Stdout: stdout, Log: log})
	if err != nil {
		fmt.Fprintf(stderr, "resreap watch: %v\n", err)
		return 1
	}
	if opts.Once && sum.Verdicts > 0 {
		return 1
	}
	return 0
}
