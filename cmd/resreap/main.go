//go:build linux

// Command resreap supervises the children declared in a TOML file, restarts
// them when they leak CLOSE_WAIT sockets or run out of file descriptors,
// and keeps a durable history of every start, exit and restart.
//
//	resreap run -c resreap.toml     supervise
//	resreap check -c FILE           validate a configuration
//	resreap status|start|stop|restart|reload|signal   control a running resreap
//	resreap history                 read the restart history
//	resreap logs NAME [-f]          show a child's output file
//	resreap watch [flags]           the standalone watchdog, for processes resreap does not own
//	resreap fleet status|restart|cancel GROUP   a fleet group over etcd
//	resreap completion bash|zsh|fish, resreap man, resreap help CMD, resreap version
//
// The commands, their flags and examples are one table (commands.go):
// --help, the shell completions and the man page are all made from it.
package main

import (
	"io"
	"os"

	"github.com/resreap/resreap/internal/proc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	proc.RunExecShim()
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the command args names and returns its exit status.
func dispatch(args []string, stdout, stderr io.Writer) int {
	return runCommand(commands(), args, stdout, stderr)
}
