//go:build linux

package proc

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/resreap/resreap/internal/testchild"
)

// A command's environment is resreap's, less what systemd tells resreap
// alone, with Env over it and ExtraEnv over both; ClearEnv starts from
// nothing.
func TestEnviron(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("RESREAP_PROC_OUTER", "outer")
	t.Setenv("RESREAP_PROC_KEY", "outer")
	for _, tc := range []struct {
		name         string
		c            Command
		want, absent []string
	}{
		{"inherited", Command{Env: map[string]string{"RESREAP_PROC_KEY": "spec"}, ExtraEnv: []string{"A=verdict"}},
			[]string{"A=verdict", "RESREAP_PROC_KEY=spec", "RESREAP_PROC_OUTER=outer"}, []string{"NOTIFY_SOCKET="}},
		{"extra over env", Command{Env: map[string]string{"A": "spec"}, ExtraEnv: []string{"A=verdict"}},
			[]string{"A=verdict"}, []string{"A=spec"}},
		{"cleared", Command{ClearEnv: true, Env: map[string]string{"B": "1"}, ExtraEnv: []string{"A=2"}},
			[]string{"A=2", "B=1"}, []string{"RESREAP_PROC_OUTER=", "PATH="}},
	} {
		env := tc.c.environ()
		if !slices.IsSorted(env) {
			t.Errorf("%s: not sorted: %q", tc.name, env)
		}
		for _, w := range tc.want {
			if !slices.Contains(env, w) {
				t.Errorf("%s: %q missing from %q", tc.name, w, env)
			}
		}
		for _, n := range tc.absent {
			if slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, n) }) {
				t.Errorf("%s: %q in %q", tc.name, n, env)
			}
		}
		if tc.c.ClearEnv && len(env) != len(tc.want) {
			t.Errorf("%s: %q, want only %q", tc.name, env, tc.want)
		}
	}
}

// stdout and stderr go each to a pipe of their own, or to /dev/null.
func TestOutputs(t *testing.T) {
	c := helper(t, "lines", testchild.NEnv+"=3", testchild.StreamEnv+"=stderr")
	c.Stdout = OutputNull // the ready line goes there
	p := spawn(t, c)
	out := p.Outputs()
	if len(out) != 2 || out[0] != nil || out[1] == nil {
		t.Fatalf("outputs %v, want none for stdout and a pipe for stderr", out)
	}
	for _, want := range []string{"line 1", "line 2", "line 3"} {
		if have := readLine(t, out[1]); have != want {
			t.Fatalf("stderr line %q, want %q", have, want)
		}
	}
}

// A start that fails before the program runs is a SpawnError that names
// what to fix.
func TestSpawnErrors(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	own, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		c          Command
		what, path string
	}{
		{"missing program", Command{Path: "/nonexistent/program", Args: []string{"program"}}, "exec", "/nonexistent/program"},
		{"not executable", Command{Path: notExec, Args: []string{"x"}}, "exec", notExec},
		// Through the shim the exec that fails is the second one: its
		// error comes back through the shim's pipe.
		{"not executable, with rlimit_nofile", Command{Path: notExec, Args: []string{"x"}, RlimitNofile: 100}, "exec", notExec},
		{"missing directory", Command{Path: own, Args: []string{"x"}, Dir: "/nonexistent/dir"}, "exec", own},
	} {
		p, err := testReaper.Spawn(tc.c)
		var se *SpawnError
		switch {
		case err == nil:
			waitExit(t, p)
			t.Errorf("%s: started pid %d", tc.name, p.PID())
		case !errors.As(err, &se):
			t.Errorf("%s: %v (%T), want a *SpawnError", tc.name, err, err)
		case se.What != tc.what || se.Path != tc.path || se.Err == nil:
			t.Errorf("%s: %+v, want %s of %s with why", tc.name, se, tc.what, tc.path)
		}
	}
}

// rlimit_nofile is set by the shim, which then runs the real program in
// the same process.
func TestRlimitNofile(t *testing.T) {
	sh := testchild.NeedCommand(t, "sh")
	p := spawn(t, Command{Path: sh, Args: []string{"sh", "-c", "ulimit -Sn; ulimit -Hn; echo $$"}, RlimitNofile: 123})
	out := strings.Fields(readAll(t, p.Outputs()[0]))
	ex := waitExit(t, p)
	if len(out) != 3 || out[0] != "123" || out[1] != "123" || out[2] != strconv.Itoa(p.PID()) || ex.Failed() {
		t.Errorf("sh printed %q and ended with %s; want 123 123 %d and exit 0", out, ex, p.PID())
	}
}
