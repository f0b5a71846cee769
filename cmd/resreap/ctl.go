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
	names    bool   // takes child names (or "all")
	examples string
}

var ctlCommands = map[string]ctlCommand{
	control.CmdStatus: {"[NAME...]", false, `  resreap status -c /etc/resreap/resreap.toml
  resreap status fe-server --json
exit status: 0 every child named (or all) is up: running and ready (its
ready probe passes), or exited cleanly where its restart policy says so;
1 some child is not (stopped, starting, not ready, backoff, stopping,
fatal, exited after a failure), or resreap does not answer; 2 usage or
config error.
`},
	control.CmdStart: {"NAME... | all", true, `  resreap start backend
  resreap start all --wait 1m
waits until each child is running, has failed to start, or --wait has
passed; exit 1 if any did not run.
`},
	control.CmdStop: {"NAME... | all", true, `  resreap stop worker
returns once each child was stopped through its escalation and reaped.
`},
	control.CmdRestart: {"NAME... | all", true, `  resreap restart fe-server
  resreap restart a b c      one after another
`},
	control.CmdReload: {"", false, `  resreap reload -c /etc/resreap/resreap.toml
an invalid file changes nothing: its problems are printed and the exit
status is 2, as for resreap check.
`},
	control.CmdSignal: {"NAME SIG", false, `  resreap signal fe-server HUP           every process of the child
  resreap signal fe-server HUP --main    its main process only
`},
}

// runCtl sends one command per named child to a running resreap over its
// control socket and prints the answers. Exit status: 0 done, 1 runtime
// failure (resreap not running, a child failed to start, a child not up
// for status), 2 usage (unknown command, child or signal, wrong
// arguments, bad config file).
func runCtl(cmd string, args []string, stdout, stderr io.Writer) int {
	c, ok := ctlCommands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "resreap: unknown control command %q\n", cmd)
		return 2
	}
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	configPath := fs.StringP("config", "c", "", "read the control socket path from this config `FILE`")
	socket := fs.StringP("socket", "s", config.DefaultControlSocket, "control socket of the running resreap")
	var asJSON, mainOnly *bool
	var wait *time.Duration
	switch cmd {
	case control.CmdStatus:
		asJSON = fs.Bool("json", false, "print the status as JSON: {\"supervisor\": {...}, \"children\": [...]}")
	case control.CmdSignal:
		mainOnly = fs.Bool("main", false, "signal the main process only, not its workers (default: every process of the child)")
	case control.CmdStart, control.CmdRestart:
		wait = fs.Duration("wait", control.DefaultWait, "wait this long for each child to run")
	}
	usage := fmt.Sprintf("resreap %s [-c CONFIG | -s SOCKET] %s", cmd, c.args)
	if exit, ok := parseArgs(fs, args, usage, c.examples, stdout, stderr); !ok {
		return exit
	}
	path, exit := socketPath(*configPath, *socket, fs.Changed("socket"), stderr)
	if exit != 0 {
		return exit
	}
	names := fs.Args()
	switch {
	case cmd == control.CmdSignal:
		return ctlSignal(path, names, *mainOnly, usage, stdout, stderr)
	case cmd == control.CmdStatus:
		return ctlStatus(path, names, *asJSON, stdout, stderr)
	case cmd == control.CmdReload:
		if len(names) != 0 {
			fmt.Fprintf(stderr, "usage: %s\n", usage)
			return 2
		}
		return ctlCall(path, control.Request{Cmd: cmd}, stdout, stderr)
	case len(names) == 0:
		fmt.Fprintf(stderr, "usage: %s\n", usage)
		return 2
	}
	known, exit := childNames(path, stderr)
	if exit != 0 {
		return exit
	}
	names = expandNames(known, names)
	worst := 0
	for _, n := range names {
		req := control.Request{Cmd: cmd, Child: n}
		if wait != nil {
			req.Wait = history.Duration(*wait)
		}
		worst = max(worst, ctlCall(path, req, stdout, stderr))
	}
	return worst
}

// socketPath is the control socket to use: -s, or the one the config file
// names, or the default.
func socketPath(configPath, socket string, socketSet bool, stderr io.Writer) (string, int) {
	if configPath == "" || socketSet {
		return socket, 0
	}
	sc, err := config.LoadSupervisor(configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return "", 2
	}
	return sc.ControlSocket, 0
}

func ctlSignal(path string, args []string, mainOnly bool, usage string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintf(stderr, "usage: %s\n", usage)
		return 2
	}
	// Refuse a bad name here, even when resreap is not running; send the
	// signal by the name resreap gives it.
	sig, err := signame.ParseName(args[1])
	if err != nil {
		fmt.Fprintf(stderr, "resreap signal: %v\n", err)
		return 2
	}
	known, exit := childNames(path, stderr)
	if exit != 0 {
		return exit
	}
	worst := 0
	for _, n := range expandNames(known, args[:1]) {
		worst = max(worst, ctlCall(path, control.Request{Cmd: control.CmdSignal, Child: n, Signal: signame.Name(sig), Main: mainOnly}, stdout, stderr))
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
// it prints why and returns the exit status for it.
func childNames(path string, stderr io.Writer) ([]string, int) {
	resp, exit := call(path, control.Request{Cmd: control.CmdStatus}, stderr)
	if exit != 0 {
		return nil, exit
	}
	var names []string
	for _, c := range resp.Status {
		names = append(names, c.Name)
	}
	return names, 0
}

// ctlCall sends req, prints the answer and returns the exit status.
func ctlCall(path string, req control.Request, stdout, stderr io.Writer) int {
	resp, exit := call(path, req, stderr)
	if exit != 0 {
		return exit
	}
	if err := printResponse(stdout, req, resp); err != nil {
		fmt.Fprintf(stderr, "resreap %s: %v\n", req.Cmd, err)
		return 1
	}
	return 0
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

func printResponse(w io.Writer, req control.Request, resp control.Response) error {
	var err error
	switch {
	case req.Cmd == control.CmdStart && len(resp.Status) == 1:
		st := resp.Status[0]
		_, err = fmt.Fprintf(w, "%s %s (pid %d)\n", st.Name, st.State, st.PID)
	case req.Cmd == control.CmdStop && resp.Stop != nil:
		_, err = fmt.Fprintln(w, resp.Stop)
	case req.Cmd == control.CmdRestart && resp.Stop != nil:
		s := resp.Stop.String()
		if st := resp.Stop.Started; st != nil {
			s += fmt.Sprintf("; %s (pid %d)", st.State, st.PID)
		}
		_, err = fmt.Fprintln(w, s)
	case req.Cmd == control.CmdReload && resp.Reload != nil:
		_, err = fmt.Fprintln(w, resp.Reload)
	case req.Cmd == control.CmdSignal:
		to := "every process of " + req.Child
		if req.Main {
			to = "the main process of " + req.Child
		}
		_, err = fmt.Fprintf(w, "sent %s to %s\n", req.Signal, to)
	default:
		err = fmt.Errorf("unexpected answer from resreap: %+v", resp)
	}
	return err
}
