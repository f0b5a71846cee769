//go:build linux

package main

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/supervisor/control"
)

// The CLI as an operator meets it: each script in testdata/script starts
// a real `resreap run` in its work directory and runs commands against
// it. Exit codes are checked with `exec sh -c '...; echo exit=$?'`.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitstate": waitState,
			"waitgrep":  waitGrep,
		},
	})
}

// waitState: waitstate CONFIG CHILD STATE... polls the status of the
// resreap that CONFIG names until CHILD is in one of the states (60s at
// most). With !, until it is in none of them.
func waitState(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: waitstate CONFIG CHILD STATE...")
	}
	sc, err := config.LoadSupervisor(ts.MkAbs(args[0]))
	ts.Check(err)
	child, states := args[1], args[2:]
	deadline := time.Now().Add(60 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := control.Call(context.Background(), sc.ControlSocket, control.Request{Cmd: control.CmdStatus})
		if err == nil {
			for _, c := range resp.Status {
				if c.Name == child {
					last = c.State
					if slices.Contains(states, c.State) != neg {
						return
					}
				}
			}
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s not %s%s in 60s: %s", child, map[bool]string{true: "out of ", false: ""}[neg], strings.Join(states, "|"), last)
}

// waitGrep: waitgrep FILE REGEXP polls FILE (a background command's
// output, say) until a line matches REGEXP (60s at most).
func waitGrep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitgrep FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(60 * time.Second)
	var data []byte
	for time.Now().Before(deadline) {
		data, _ = os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(data) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("no line of %s matches %s in 60s:\n%s", args[0], args[1], data)
}
