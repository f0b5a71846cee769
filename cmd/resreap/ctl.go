//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/signame"
	"github.com/resreap/resreap/supervisor/control"
)

// statusTimeout bounds a status call: the supervisor answers it without
// waiting on any child, so a longer silence means resreap is stuck. The
// other commands wait as long as the stop escalation takes.
const statusTimeout = 10 * time.Second

// ctlCommand is one control command of the command line.
type ctlCommand struct {
	args     string // positional arguments, for the usage line
	summary  string
	examples string
}

var ctlCommands = map[string]ctlCommand{
	control.CmdStatus: {"[NAME...]", "show a running resreap and its children; exit 1 if one is not up", `  resreap status -c /etc/resreap/resreap.toml
  resreap status fe-server --json
exit status: 0 every child named (or all) is up: running and ready (its
ready probe passes), or exited cleanly where its restart policy says so;
1 some child is not (stopped, starting, not ready, backoff, stopping,
fatal, exited after a failure), or resreap does not answer; 2 usage or
config error.
`},
	control.CmdStart: {"NAME... | all", "start children of a running resreap", `  resreap start backend
  resreap start all --wait 1m
waits until each child is running, has failed to start, or --wait has
passed; exit 1 if any did not run.
`},
	control.CmdStop: {"NAME... | all", "stop children through their escalation", `  resreap stop worker
returns once each child was stopped through its escalation and reaped.
`},
	control.CmdRestart: {"NAME... | all", "stop children through their escalation and start them again", `  resreap restart fe-server
  resreap restart a b c      one after another
`},
	control.CmdReload: {"", "re-read the config of a running resreap (its ExecReload)", `  resreap reload -c /etc/resreap/resreap.toml
returns once the reload is done. An invalid file changes nothing: its
problems are printed as file:line and the exit status is 2, as for
resreap check; so it is the unit's ExecReload, where kill -HUP would
report success for a file resreap refused.
`},
	control.CmdSignal: {"NAME SIG", "send a signal to every process of a child (--main: its main process)", `  resreap signal fe-server HUP           every process of the child
  resreap signal fe-server HUP --main    its main process only
`},
}

// ctlOpts are the flags of a control command.
type ctlOpts struct {
	config string
	socket string
	json   bool
	main   bool          // signal
	wait   time.Duration // start, restart
}

// ctlUsage is the synopsis of the control command cmd.
func ctlUsage(cmd string) string {
	return fmt.Sprintf("resreap %s [-c CONFIG | -s SOCKET] [--json] %s", cmd, ctlCommands[cmd].args)
}

// ctlFlags returns the flags of the control command cmd and where they
// are stored.
func ctlFlags(cmd string) (*pflag.FlagSet, *ctlOpts) {
	var o ctlOpts
	fs := newFlagSet(cmd)
	configFlag(fs, &o.config, "find resreap by the control_socket of the config")
	fs.StringVarP(&o.socket, "socket", "s", config.DefaultControlSocket, "control socket of the running resreap (instead of the config's)")
	fileFlag(fs, "socket")
	jsonHelp := "print each answer as a line of JSON: {\"cmd\", \"child\", \"ok\", \"error\", and the result}"
	switch cmd {
	case control.CmdStatus:
		jsonHelp = "print the status as JSON: {\"supervisor\": {...}, \"children\": [...]}"
	case control.CmdSignal:
		fs.BoolVar(&o.main, "main", false, "signal the main process only, not its workers (default: every process of the child)")
	case control.CmdStart, control.CmdRestart:
		fs.DurationVar(&o.wait, "wait", control.DefaultWait, "wait this long for each child to run")
	}
	fs.BoolVar(&o.json, "json", false, jsonHelp)
	return fs, &o
}

// runCtl sends one command per named child to a running resreap over its
// control socket and prints the answers. Exit status: 0 done, 1 runtime
// failure (resreap not running, a child failed to start, a child not up
// for status), 2 usage (unknown command, child or signal, wrong
// arguments, bad config file).
func runCtl(cmd string, args []string, stdout, stderr io.Writer) int {
	if _, ok := ctlCommands[cmd]; !ok {
		fmt.Fprintf(stderr, "resreap: unknown control command %q\n", cmd)
		return 2
	}
	fs, o := ctlFlags(cmd)
	usage := ctlUsage(cmd)
	if exit, ok := parseArgs(fs, args, usage, ctlCommands[cmd].examples, stdout, stderr); !ok {
		return exit
	}
	path, exit := socketPath(o.config, o.socket, fs.Changed("socket"), stderr)
	if exit != 0 {
		return exit
	}
	out := ctlOutput{stdout: stdout, stderr: stderr, json: o.json}
	names := fs.Args()
	switch {
	case cmd == control.CmdSignal:
		return ctlSignal(path, names, o.main, usage, out)
	case cmd == control.CmdStatus:
		return ctlStatus(path, names, o.json, stdout, stderr)
	case cmd == control.CmdReload:
		if len(names) != 0 {
			fmt.Fprintf(stderr, "usage: %s\n", usage)
			return 2
		}
		return ctlCall(path, control.Request{Cmd: cmd}, out)
	case len(names) == 0:
		fmt.Fprintf(stderr, "usage: %s\n", usage)
		return 2
	}
	var reqs []control.Request
	for _, n := range names {
		reqs = append(reqs, control.Request{Cmd: cmd, Child: n})
	}
	known, exit := childNames(path, out, reqs...)
	if exit != 0 {
		return exit
	}
	names = expandNames(known, names)
	worst := 0
	for _, n := range names {
		req := control.Request{Cmd: cmd, Child: n}
		if cmd == control.CmdStart || cmd == control.CmdRestart {
			req.Wait = history.Duration(o.wait)
		}
		worst = max(worst, ctlCall(path, req, out))
	}
	return worst
}

// socketPath is the control socket to use: -s when given, else the
// control_socket of the config (-c, $RESREAP_CONFIG or the default
// file); without -c and $RESREAP_CONFIG, a default file that does not
// exist means the default socket, as an empty config would.
func socketPath(configFlag, socket string, socketSet bool, stderr io.Writer) (string, int) {
	file := pickConfig(configFlag)
	if socketSet || file.missingDefault() {
		return socket, 0
	}
	sc, err := config.LoadSupervisor(file.path)
	if err != nil {
		fmt.Fprintln(stderr, file.describe(err))
		return "", 2
	}
	return sc.ControlSocket, 0
}

func ctlSignal(path string, args []string, mainOnly bool, usage string, out ctlOutput) int {
	if len(args) != 2 {
		fmt.Fprintf(out.stderr, "usage: %s\n", usage)
		return 2
	}
	// Refuse a bad name here, even when resreap is not running; send the
	// signal by the name resreap gives it.
	sig, err := signame.ParseName(args[1])
	if err != nil {
		fmt.Fprintf(out.stderr, "resreap signal: %v\n", err)
		return 2
	}
	known, exit := childNames(path, out, control.Request{Cmd: control.CmdSignal, Child: args[0], Signal: signame.Name(sig), Main: mainOnly})
	if exit != 0 {
		return exit
	}
	worst := 0
	for _, n := range expandNames(known, args[:1]) {
		worst = max(worst, ctlCall(path, control.Request{Cmd: control.CmdSignal, Child: n, Signal: signame.Name(sig), Main: mainOnly}, out))
	}
	return worst
}

// ctlStatus prints the status of the named children (all when none) and
// exits 1 unless every one of them is up.
func ctlStatus(path string, names []string, asJSON bool, stdout, stderr io.Writer) int {
	resp, exit := call(path, control.Request{Cmd: control.CmdStatus}, stderr)
	if exit != 0 {
		return exit
	}
	children := resp.Status
	if len(names) > 0 {
		children = nil
		var known []string
		for _, c := range resp.Status {
			known = append(known, c.Name)
		}
		for _, n := range expandNames(known, names) {
			i := slices.IndexFunc(resp.Status, func(c control.ChildStatus) bool { return c.Name == n })
			if i < 0 {
				fmt.Fprintf(stderr, "resreap status: unknown child %q\n", n)
				return 2
			}
			children = append(children, resp.Status[i])
		}
	}
	var sup control.Supervisor
	if resp.Supervisor != nil {
		sup = *resp.Supervisor
	}
	var err error
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Supervisor control.Supervisor    `json:"supervisor"`
			Children   []control.ChildStatus `json:"children"`
		}{sup, append([]control.ChildStatus{}, children...)})
	} else {
		err = control.WriteStatusTable(stdout, sup, children)
	}
	if err != nil {
		fmt.Fprintf(stderr, "resreap status: %v\n", err)
		return 1
	}
	if sup.Starting {
		return 1 // nothing is up yet
	}
	for _, c := range children {
		if !c.Up {
			return 1
		}
	}
	return 0
}

// expandNames resolves the names of a command line against the children
// resreap has (known): "all" is every child; the name of a child with
// instances ("fe-server") is each of its copies (fe-server.0,
// fe-server.1, ...), in order; any other name stays as it is, for resreap
// to accept or refuse.
func expandNames(known, names []string) []string {
	var out []string
	for _, n := range names {
		switch {
		case n == "all":
			out = append(out, known...)
		case slices.Contains(known, n):
			out = append(out, n)
		default:
			copies := instancesOf(known, n)
			if len(copies) == 0 {
				copies = []string{n}
			}
			out = append(out, copies...)
		}
	}
	return out
}

// instancesOf returns the names in known of the form base.N, by N.
func instancesOf(known []string, base string) []string {
	type copyName struct {
		name string
		n    int
	}
	var cs []copyName
	for _, k := range known {
		num, ok := strings.CutPrefix(k, base+".")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n >= 0 && strconv.Itoa(n) == num {
			cs = append(cs, copyName{k, n})
		}
	}
	slices.SortFunc(cs, func(a, b copyName) int { return a.n - b.n })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}

// childNames asks resreap for the names of its children; when it cannot,
// it prints why (with --json, an answer for each of the requests reqs
// that cannot be made) and returns the exit status for it.
func childNames(path string, out ctlOutput, reqs ...control.Request) ([]string, int) {
	resp, exit := call(path, control.Request{Cmd: control.CmdStatus}, out.stderr)
	if exit != 0 {
		for _, req := range reqs {
			if out.json {
				writeJSON(out.stdout, ctlAnswer(req, resp, exit)) //nolint:errcheck // the exit status says it failed
			}
		}
		return nil, exit
	}
	var names []string
	for _, c := range resp.Status {
		names = append(names, c.Name)
	}
	return names, 0
}

// call sends req and returns resreap's answer, or prints why there is
// none and returns the exit status for it.
func call(path string, req control.Request, stderr io.Writer) (control.Response, int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if req.Cmd == control.CmdStatus {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, statusTimeout,
			fmt.Errorf("resreap did not answer within %v", statusTimeout))
		defer cancel()
	}
	resp, err := control.Call(ctx, path, req)
	if err != nil {
		switch {
		case ctx.Err() != nil && req.Cmd == control.CmdStatus:
			err = context.Cause(ctx)
		case ctx.Err() != nil:
			// The supervisor carries a command out whether or not
			// anyone waits for its answer.
			err = fmt.Errorf("interrupted; resreap goes on with the %s", req.Cmd)
		}
		fmt.Fprintf(stderr, "resreap %s: %v\n", req.Cmd, err)
		resp.Error = err.Error() // for --json
		return resp, 1
	}
	if !resp.OK {
		fmt.Fprintf(stderr, "resreap %s: %s\n", req.Cmd, resp.Error)
		if resp.Code == control.CodeUsage {
			return resp, 2
		}
		return resp, 1
	}
	return resp, 0
}
