//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
)

// runCheck validates a config file: exit 0 when it is good, 2 with every
// problem (file:line: key: message) when it is not.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.StringP("config", "c", defaultConfig, "config file to validate")
	if exit, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return exit
	}
	if fs.NArg() == 1 && !fs.Changed("config") {
		*path = fs.Arg(0)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, config.ErrInvalid) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d children)\n", *path, len(cfg.Children))
	return 0
}
