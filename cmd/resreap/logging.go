//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// newLogger returns the process logger: colored console lines on a
// terminal, JSON lines otherwise, unless format forces one.
func newLogger(w io.Writer, format string, debug bool) (zerolog.Logger, error) {
	level := zerolog.InfoLevel
	if debug {
		level = zerolog.DebugLevel
	}
	if format == "auto" || format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	switch format {
	case "json":
		return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
	case "console":
		cw := zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
		return zerolog.New(cw).Level(level).With().Timestamp().Logger(), nil
	}
	return zerolog.Nop(), fmt.Errorf("--log-format must be auto, console or json, not %q", format)
}
