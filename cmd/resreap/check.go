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

const checkUsage = "resreap check [-c] [FILE] [--no-host-checks] [--json]"

const checkExamples = `  resreap check -c /etc/resreap/resreap.toml
  resreap check configs/demo.toml --no-host-checks   validate for another machine
  resreap check -c configs/container.toml --json | jq .shutdown_seconds
every problem is printed as file:line: key: message, those of the file and
those of the host at once. Exit status: 0 ok, 2 problems (in the file, or
on this host: a missing binary, user, dir, a limit above the hard limit, a
cgroup controller the host lacks, a path resreap writes as root that
another user could redirect).
A good file's line ends with the longest shutdown its stop escalations
can take (every stop wait and kill_wait, dependents first, one dependency
level after another): docker stop's --stop-timeout, a pod's
terminationGracePeriodSeconds and systemd's TimeoutStopSec must cover it.
`

// checkOpts are the flags of "resreap check".
type checkOpts struct {
	config string
	noHost bool
	json   bool
}

// checkFlags returns the flags of "resreap check" and where they are stored.
func checkFlags() (*pflag.FlagSet, *checkOpts) {
	var o checkOpts
	fs := newFlagSet("check")
	configFlag(fs, &o.config, "validate the config")
	fs.BoolVar(&o.noHost, "no-host-checks", false, "validate the file only, not against this host (for a file meant for another machine)")
	fs.BoolVar(&o.json, "json", false, `print the result as JSON: {"file", "ok", "children", "host_checked", "shutdown_seconds", "problems": [{"line", "key", "message"}]}`)
	return fs, &o
}

// checkResult is what resreap check --json prints. Its field names are
// for scripts; fields are only ever added.
type checkResult struct {
	File        string `json:"file"`
	OK          bool   `json:"ok"`
	Children    int    `json:"children"`
	HostChecked bool   `json:"host_checked"`
	// ShutdownSeconds is the longest shutdown the file's stop
	// escalations can take, rounded up (shutdownTime); Slowest the
	// children that make it, last level first.
	ShutdownSeconds int64          `json:"shutdown_seconds"`
	Slowest         []string       `json:"slowest,omitempty"`
	Problems        []checkProblem `json:"problems"`
}

// checkProblem is one problem in resreap check --json.
type checkProblem struct {
	Line    int    `json:"line"` // 0 when the problem has no line (the file cannot be read)
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

// runCheck validates a config file: exit 0 when it is good, 2 with every
// problem (file:line: key: message) when it is not. Unless told otherwise
// it also checks the file against this host (config.CheckFile):
// programs, directories, users and groups that must exist, limits the
// host must allow. Those checks judge the host as this process sees it,
// so they belong on the machine, as the user, resreap will run as;
// --no-host-checks validates a file meant for another machine.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs, o := checkFlags()
	if exit, ok := parseArgs(fs, args, checkUsage, checkExamples, stdout, stderr); !ok {
		return exit
	}
	file := pickConfig(o.config)
	switch {
	case fs.NArg() > 1 || fs.NArg() == 1 && o.config != "":
		fmt.Fprintf(stderr, "resreap check: one config file, by -c or as the argument\nusage: %s\n", checkUsage)
		return 2
	case fs.NArg() == 1:
		file = configFile{fs.Arg(0), fromFlag}
	}
	cfg, err := config.CheckFile(file.path, !o.noHost)
	res := checkResult{File: file.path, OK: err == nil, HostChecked: !o.noHost, Problems: []checkProblem{}}
	if cfg != nil {
		total, slowest := shutdownTime(cfg)
		res.Children, res.ShutdownSeconds, res.Slowest = len(cfg.Children), wholeSeconds(total), slowest
	}
	res.Problems = problemsOf(file, err)
	if o.json {
		if werr := writeJSON(stdout, res); werr != nil {
			fmt.Fprintf(stderr, "resreap check: %v\n", werr)
			return 1
		}
	} else if err != nil {
		printEscaped(stderr, file.describe(err))
	} else {
		host := "host checked"
		if o.noHost {
			host = "host not checked"
		}
		fmt.Fprintf(stdout, "%s: ok (%s, %s; shutdown takes at most %ds%s)\n", textsafe.Escape(file.String()),
			count(len(cfg.Children), "child", "children"), host, res.ShutdownSeconds, slowestText(res.Slowest))
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, config.ErrInvalid):
		return 2
	}
	return 1
}

// problemsOf lists the problems of a CheckFile error, one for an error
// that is not a list of them (a file that cannot be read).
func problemsOf(file configFile, err error) []checkProblem {
	out := []checkProblem{}
	var ce *config.Error
	switch {
	case err == nil:
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			out = append(out, checkProblem{Line: p.Line, Key: p.Key, Message: p.Msg})
		}
	default:
		out = append(out, checkProblem{Message: file.describe(err)})
	}
	return out
}

// slowestText names the children whose stops make the shutdown time:
// ": fe-server, then backend".
func slowestText(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ": " + textsafe.Escape(strings.Join(names, ", then "))
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
