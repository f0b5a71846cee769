//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/diode"

	"github.com/resreap/resreap/internal/textsafe"
)

// logBuffer is how many log messages wait for a slow log reader before
// newer ones are dropped (and counted).
const logBuffer = 10000

// logCloseWait bounds the wait for queued log messages at exit: a reader
// that stopped for good must not keep resreap from exiting.
const logCloseWait = 2 * time.Second

// newLogger returns the process logger: colored console lines on a
// terminal, JSON lines otherwise, unless format forces one. Console lines
// are colored only on a terminal and without $NO_COLOR (no-color.org):
// escape codes in a file or a journal are noise to every reader of it. Messages reach
// w through a bounded, non-blocking buffer (zerolog's diode): a log reader
// that stalls (a stopped shipper, a full pipe) never holds up the
// supervisor; what it misses is dropped and a line says how much once it
// reads again. Call close at exit to write what is queued.
func newLogger(w io.Writer, format string, debug bool) (zerolog.Logger, func(), error) {
	level := zerolog.InfoLevel
	if debug {
		level = zerolog.DebugLevel
	}
	tty := isTerminal(w)
	if format == "auto" || format == "" {
		format = "json"
		if tty {
			format = "console"
		}
	}
	var out io.Writer
	switch format {
	case "json":
		out = w
	case "console":
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, FormatPrepare: escapeConsole,
			NoColor: !tty || os.Getenv("NO_COLOR") != ""}
	default:
		return zerolog.Nop(), func() {}, fmt.Errorf("--log-format must be auto, console or json, not %q", format)
	}
	// The struct hides w's Close: the diode closes what it wraps.
	dw := diode.NewWriter(struct{ io.Writer }{out}, logBuffer, 0, func(missed int) {
		fmt.Fprintf(w, "resreap: %d log messages dropped: the log was not being read\n", missed)
	})
	closeLog := func() { closeWithin(logCloseWait, func() { dw.Close() }) }
	return zerolog.New(dw).Level(level).With().Timestamp().Logger(), closeLog, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// escapeConsole prepares an event for zerolog's ConsoleWriter, which
// prints the message as it is: the message (a child's start error, a path,
// an event line) is escaped (textsafe), and so are the strings inside an
// array or object field, which the writer prints as JSON, and JSON leaves
// DEL and C1 controls raw. A string field is left alone: the writer quotes
// one that holds anything but printable ASCII (strconv.Quote), escapes
// included, and escaping it first would show each backslash twice.
func escapeConsole(evt map[string]any) error {
	for k, v := range evt {
		switch x := v.(type) {
		case string:
			if k == zerolog.MessageFieldName || k == zerolog.CallerFieldName {
				evt[k] = textsafe.Escape(x)
			}
		case []any, map[string]any:
			evt[k] = escapeNested(x)
		}
	}
	return nil
}

// escapeNested escapes every string in a decoded JSON value, keys of
// objects included.
func escapeNested(v any) any {
	switch x := v.(type) {
	case string:
		return textsafe.Escape(x)
	case []any:
		for i := range x {
			x[i] = escapeNested(x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[textsafe.Escape(k)] = escapeNested(e)
		}
		return out
	}
	return v
}

// closeWithin runs f (a Close) and waits for it at most d; it reports
// whether f returned. One that hangs (a log on a dead disk) is
// left behind: resreap is exiting.
func closeWithin(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
