//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/signame"
	"github.com/resreap/resreap/supervisor/control"
)

// statusTimeout bounds a status call: the supervisor answers it without
// waiting on any child, so a longer silence means resreap is stuck. The
// other commands wait as long as the stop escalation takes.
const statusTimeout = 10 * time.Second

// ctlArgs are the positional arguments each control command takes.
var ctlArgs = map[string][]string{
	control.CmdStatus:  nil,
	control.CmdStart:   {"NAME"},
	control.CmdStop:    {"NAME"},
	control.CmdRestart: {"NAME"},
	control.CmdReload:  nil,
	control.CmdSignal:  {"NAME", "SIG"},
}

// runCtl sends one command to a running resreap over its control socket
// and prints the answer. Exit status: 0 done, 1 runtime failure (resreap
// not running, the child failed), 2 usage (unknown command, child or
// signal, wrong arguments, bad config file).
func runCtl(cmd string, args []string, stdout, stderr io.Writer) int {
	want, ok := ctlArgs[cmd]
	if !ok {
		fmt.Fprintf(stderr, "resreap: unknown control command %q\n", cmd)
		return 2
	}
	usage := fmt.Sprintf("usage: resreap %s [-c CONFIG | -s SOCKET]", cmd)
	if len(want) > 0 {
		usage += " " + strings.Join(want, " ")
	}
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "%s\n\nflags:\n%s", usage, fs.FlagUsages()) }
	configPath := fs.StringP("config", "c", "", "read the control socket path from this config file")
	socket := fs.StringP("socket", "s", config.DefaultControlSocket, "control socket of the running resreap")
	var asJSON, mainOnly *bool
	switch cmd {
	case control.CmdStatus:
		asJSON = fs.Bool("json", false, "print the status as JSON")
	case control.CmdSignal:
		mainOnly = fs.Bool("main", false, "signal the main process only, not its workers (default: every process of the child)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		// With ContinueOnError pflag reports nothing itself.
		fmt.Fprintf(stderr, "resreap %s: %v\n%s\n", cmd, err, usage)
		return 2
	}
	if fs.NArg() != len(want) {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	req := control.Request{Cmd: cmd, Child: fs.Arg(0)}
	if cmd == control.CmdSignal {
		// Refuse a bad name here, even when resreap is not running.
		if _, err := signame.ParseName(fs.Arg(1)); err != nil {
			fmt.Fprintf(stderr, "resreap signal: %v\n", err)
			return 2
		}
		req.Signal, req.Main = fs.Arg(1), *mainOnly
	}
	path := *socket
	if *configPath != "" && !fs.Changed("socket") {
		sc, err := config.LoadSupervisor(*configPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		path = sc.ControlSocket
	}
	return ctlCall(path, req, asJSON != nil && *asJSON, stdout, stderr)
}

func ctlCall(path string, req control.Request, asJSON bool, stdout, stderr io.Writer) int {
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
		return 1
	}
	if !resp.OK {
		fmt.Fprintf(stderr, "resreap %s: %s\n", req.Cmd, resp.Error)
		if resp.Code == control.CodeUsage {
			return 2
		}
		return 1
	}
	if err := printResponse(stdout, req, resp, asJSON); err != nil {
		fmt.Fprintf(stderr, "resreap %s: %v\n", req.Cmd, err)
		return 1
	}
	return 0
}

func printResponse(w io.Writer, req control.Request, resp control.Response, asJSON bool) error {
	var err error
	switch {
	case req.Cmd == control.CmdStatus && asJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(resp.Status)
	case req.Cmd == control.CmdStatus:
		err = control.WriteStatusTable(w, resp.Status)
	case req.Cmd == control.CmdStart && len(resp.Status) == 1:
		st := resp.Status[0]
		_, err = fmt.Fprintf(w, "%s %s (pid %d)\n", st.Name, st.State, st.PID)
	case req.Cmd == control.CmdStop && resp.Stop != nil:
		_, err = fmt.Fprintln(w, resp.Stop)
	case req.Cmd == control.CmdRestart && resp.Stop != nil:
		_, err = fmt.Fprintf(w, "%s; started again\n", resp.Stop)
	case req.Cmd == control.CmdReload && resp.Reload != nil:
		_, err = fmt.Fprintln(w, resp.Reload)
	case req.Cmd == control.CmdSignal:
		sig := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(req.Signal)), "SIG")
		to := "every process of " + req.Child
		if req.Main {
			to = "the main process of " + req.Child
		}
		_, err = fmt.Fprintf(w, "sent %s to %s\n", sig, to)
	default:
		err = fmt.Errorf("unexpected answer from resreap: %+v", resp)
	}
	return err
}
