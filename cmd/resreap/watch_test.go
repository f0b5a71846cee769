//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
	"github.com/resreap/resreap/supervisor/watch"
)

// startWatchLeaker starts a helper with two CLOSE_WAIT sockets and returns
// it with a token unique to its command line, for -f.
func startWatchLeaker(t *testing.T) (*testchild.Child, string) {
	t.Helper()
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	token := fmt.Sprintf("watch-e2e-%d-%s", os.Getpid(), t.Name())
	return testchild.Start(t, testchild.Spec{Mode: "leak", N: 2, Addr: addr, Token: token}), token
}

func TestWatchOnceJSONDryRun(t *testing.T) {
	c, token := startWatchLeaker(t)
	var stdout, stderr bytes.Buffer
	code := runWatch([]string{"--once", "--json", "-d", "-f", token, "-i", "0.1"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a process would be acted on); stderr:\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout %q, want one JSON line", stdout.String())
	}
	var rec history.Record
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("stdout %q: %v", lines[0], err)
	}
	if rec.Event != history.EventUnhealthy || rec.PID != c.PID || rec.Evidence == nil || rec.Evidence.CloseWait != 2 {
		t.Errorf("verdict %+v, want the helper unhealthy with 2 CLOSE_WAIT", rec)
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("--json log line is not JSON: %q", l)
		}
	}
	if !c.Alive() {
		t.Error("dry run killed the helper")
	}
}

func TestWatchOnceKills(t *testing.T) {
	c, token := startWatchLeaker(t)
	var stdout, stderr bytes.Buffer
	code := runWatch([]string{"--once", "--act", "--pattern", token, "--interval", "0.1", "--wait", "0.2"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if ps := c.Wait(t); ps.String() != "signal: terminated" {
		t.Errorf("helper ended with %v, want SIGTERM", ps)
	}
	pid := strconv.Itoa(c.PID)
	for _, want := range []string{"unhealthy pid=" + pid, "stop pid=" + pid, "sent TERM", "exited after TERM"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout %q lacks %q", stdout.String(), want)
		}
	}
}

// --once is a check: exit 1 for a process that would be acted on, which
// is left alive.
func TestWatchOnceIsACheck(t *testing.T) {
	c, token := startWatchLeaker(t)
	var stdout, stderr bytes.Buffer
	code := runWatch([]string{"--once", "--pattern", token, "--interval", "0.1"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "unhealthy pid="+strconv.Itoa(c.PID)) || !strings.Contains(stdout.String(), "would send TERM") {
		t.Errorf("stdout %q: want the verdict and what would be sent", stdout.String())
	}
	if !c.Alive() {
		t.Error("--once without --act killed the helper")
	}
}

func TestWatchOnceNothingToDo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runWatch([]string{"--once", "-f", "^no such process, surely$", "-i", "0.05"}, &stdout, &stderr)
	if code != 0 || !strings.HasPrefix(stdout.String(), "no process to act on") {
		t.Errorf("exit %d stdout %q stderr %q, want 0 and the no-verdict line", code, stdout.String(), stderr.String())
	}
}

func TestWatchCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string // prefix
		stderrLine string // the one line of stderr
	}{
		{[]string{"-h"}, 0, watch.Usage, ""},
		{[]string{"--help"}, 0, watch.Usage, ""},
		{[]string{"-v"}, 0, "resreap " + version + "\n", ""},
		{[]string{"--version"}, 0, "resreap " + version + "\n", ""},
		{[]string{"-l", "x"}, 2, "", `resreap watch: -l/--limit: want a whole number >= 1, not "x"`},
		{[]string{"--pattern", "("}, 2, "", "resreap watch: -f/--pattern: bad regexp: error parsing regexp: missing closing ): `(`"},
		{[]string{"-F", "1.2.3.4:http"}, 2, "", `resreap watch: -F/--foreign: bad ignore entry "1.2.3.4:http": port "http": want 1-65535`},
		{[]string{"-s", "FOO"}, 2, "", `resreap watch: -s/--signal: unknown signal "FOO"`},
		{[]string{"--nope"}, 2, "", "resreap watch: unknown flag: --nope"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runWatch(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.HasPrefix(stdout.String(), tc.stdout) || strings.TrimSuffix(stderr.String(), "\n") != tc.stderrLine {
				t.Errorf("runWatch(%q) = %d\nstdout %q\nstderr %q\nwant %d, %q, %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderrLine)
			}
		})
	}
}

// TestWatchDispatch checks that "resreap watch" reaches runWatch.
func TestWatchDispatch(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"watch", "--help"}, &stdout, &stderr); code != 0 || stdout.String() != watch.Usage {
		t.Errorf("dispatch watch --help = %d, %q", code, stdout.String())
	}
}
