//go:build linux

package main

import (
	"fmt"
	"io"

	"github.com/resreap/resreap/supervisor/control"
)

// ctlOutput is where a control command prints, and how.
type ctlOutput struct {
	stdout, stderr io.Writer
	json           bool
}

// ctlCall sends req, prints the answer and returns the exit status. With
// --json the answer is one line of JSON on stdout whatever it was, and a
// failure is said on stderr too.
func ctlCall(path string, req control.Request, out ctlOutput) int {
	resp, exit := call(path, req, out.stderr)
	if out.json {
		if err := writeJSON(out.stdout, ctlAnswer(req, resp, exit)); err != nil {
			fmt.Fprintf(out.stderr, "resreap %s: %v\n", req.Cmd, err)
			return max(exit, 1)
		}
		return exit
	}
	if exit != 0 {
		return exit
	}
	if err := printResponse(out.stdout, req, resp); err != nil {
		fmt.Fprintf(out.stderr, "resreap %s: %v\n", req.Cmd, err)
		return 1
	}
	return 0
}

// ctlJSON is one answer of a control command in --json: the request
// (command, child, signal) and what resreap answered. Its field names are
// for scripts; fields are only ever added.
type ctlJSON struct {
	Cmd    string `json:"cmd"`
	Child  string `json:"child,omitempty"`
	Signal string `json:"signal,omitempty"`
	Main   bool   `json:"main,omitempty"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	// Exit is the exit status this answer gives the command.
	Exit   int                   `json:"exit"`
	Status *control.ChildStatus  `json:"status,omitempty"` // start
	Stop   *control.StopReport   `json:"stop,omitempty"`   // stop, restart (Stop.Started: the new process)
	Reload *control.ReloadReport `json:"reload,omitempty"`
}

// ctlAnswer is the --json line of req's answer.
func ctlAnswer(req control.Request, resp control.Response, exit int) ctlJSON {
	a := ctlJSON{Cmd: req.Cmd, Child: req.Child, Signal: req.Signal, Main: req.Main,
		OK: exit == 0, Error: resp.Error, Exit: exit, Stop: resp.Stop, Reload: resp.Reload}
	if req.Cmd == control.CmdStart && len(resp.Status) == 1 {
		a.Status = &resp.Status[0]
	}
	return a
}

// printResponse prints resreap's answer to req for a person.
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
