//go:build linux

// Command resreap supervises the children declared in a TOML file, restarts
// them when they leak CLOSE_WAIT sockets or run out of file descriptors,
// and keeps a durable history of every start, exit and restart.
//
//	resreap run -c resreap.toml     supervise (the default command)
//	resreap check -c FILE           validate a configuration
//	resreap status|start|stop|restart|reload|signal   control a running resreap
//	resreap history                 read the restart history
//	resreap logs NAME [-f]          show a child's output file
//	resreap watch [flags]           the standalone watchdog, for processes resreap does not own
//	resreap version
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/proc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: resreap <command> [flags]

commands:
  run      supervise the children of a config file (default: -c /etc/resreap/resreap.toml)
  check    validate a config file, and this host for it: resreap check -c FILE
  status   [NAME...]           show a running resreap and its children; exit 1 if one is not up
  start, stop, restart NAME... | all   control children of a running resreap
  reload   re-read the config of a running resreap
  signal NAME SIG              send a signal to every process of a child (--main: its main process)
  history  show the restart history
  logs     NAME [-f] [-n N]    show a child's output file
  watch    watch processes resreap does not own (the old watchdog's flags)
  demo     demo children used by the bundled demo config
  version  print the version

"resreap <command> --help" shows the flags and examples of a command;
every command takes --version. Control commands find the running resreap
with -c/--config FILE (its control_socket) or -s/--socket PATH; in watch,
-c, -s and -f are the old watchdog's command, signal and pattern.
`

func main() {
	proc.RunExecShim()
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runRun(rest, stdout, stderr)
	case "check":
		return runCheck(rest, stdout, stderr)
	case "status", "start", "stop", "restart", "reload", "signal":
		return runCtl(cmd, rest, stdout, stderr)
	case "history":
		return runHistory(rest, stdout, stderr)
	case "logs":
		return runLogs(rest, stdout, stderr)
	case "watch":
		return runWatch(rest, stdout, stderr)
	case "fleet":
		return runFleet(rest, stdout, stderr)
	case "demo":
		return runDemo(rest, stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintln(stdout, "resreap", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "resreap: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// parseArgs parses args into fs for the command fs names, with the
// flags every command has: -h/--help prints usage, the flags and the
// examples to stdout and returns exit 0, --version prints the version and
// returns exit 0, and a bad flag is named on stderr (pflag's
// ContinueOnError reports nothing itself) with exit 2. ok is true when the
// command should go on.
func parseArgs(fs *pflag.FlagSet, args []string, usage, examples string, stdout, stderr io.Writer) (exit int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	showVersion := fs.Bool("version", false, "print the version")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprintf(stdout, "usage: %s\n\nflags:\n%s", usage, fs.FlagUsages())
		if examples != "" {
			fmt.Fprintf(stdout, "\nexamples:\n%s", examples)
		}
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "resreap %s: %v\nusage: %s (--help for more)\n", fs.Name(), err, usage)
		return 2, false
	case *showVersion:
		fmt.Fprintln(stdout, "resreap", version)
		return 0, false
	}
	return 0, true
}
