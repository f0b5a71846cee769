//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/textsafe"
)

const checkExamples = `  resreap check -c /etc/resreap/resreap.toml
  resreap check configs/demo.toml --no-host-checks   validate for another machine
every problem is printed as file:line: key: message. Exit status: 0 ok, 2
problems (in the file, or on this host: a missing binary, user, dir, a
limit above the hard limit, a cgroup controller the host lacks, a path
resreap writes as root that another user could redirect).
`

// runCheck validates a config file: exit 0 when it is good, 2 with every
// problem (file:line: key: message) when it is not. Unless told otherwise
// it also checks the file against this host (config.CheckHost): programs,
// directories, users and groups that must exist, limits the host must
// allow. Those checks judge the host as this process sees it, so they
// belong on the machine, as the user, resreap will run as;
// --no-host-checks validates a file meant for another machine.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	path := fs.StringP("config", "c", defaultConfig, "config file to validate")
	noHost := fs.Bool("no-host-checks", false, "validate the file only, not against this host (for a file meant for another machine)")
	if exit, ok := parseArgs(fs, args, "resreap check [-c] FILE [--no-host-checks]", checkExamples, stdout, stderr); !ok {
		return exit
	}
	if fs.NArg() == 1 && !fs.Changed("config") {
		*path = fs.Arg(0)
	}
	cfg, err := config.Load(*path)
	if err == nil && !*noHost {
		err = config.CheckHost(cfg)
	}
	if err != nil {
		printEscaped(stderr, err.Error())
		if errors.Is(err, config.ErrInvalid) {
			return 2
		}
		return 1
	}
	host := "host checked"
	if *noHost {
		host = "host not checked"
	}
	fmt.Fprintf(stdout, "%s: ok (%d children, %s)\n", textsafe.Escape(*path), len(cfg.Children), host)
	return 0
}

// printEscaped prints text line by line, each line escaped (textsafe): a
// problem quotes what the file holds, keys and paths included, and must
// not reach the terminal raw. The validator escapes its own problems;
// this catches the rest (a key the decoder did not know, an error of the
// file system naming a path).
func printEscaped(w io.Writer, text string) {
	for line := range strings.Lines(text) {
		fmt.Fprintln(w, textsafe.Escape(strings.TrimSuffix(line, "\n")))
	}
}
