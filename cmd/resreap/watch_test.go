//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/health/healthtest"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/supervisor/watch"
)

// TestWatchHelperProcess is not a test: run as a child with
// RESREAP_WATCH_E2E_ADDR set, it connects twice to that address, waits
// for the peer to close each connection, keeps its ends open (CLOSE_WAIT),
// prints "ready" and lives until its stdin closes or a signal kills it.
func TestWatchHelperProcess(t *testing.T) {
	addr := os.Getenv("RESREAP_WATCH_E2E_ADDR")
	if addr == "" {
		t.Skip("only runs as a helper child")
	}
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		c.Read(make([]byte, 1)) // EOF: the listener closed its end
		held = append(held, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range held {
		c.Close()
	}
	os.Exit(0)
}

// startWatchLeaker starts a helper with two CLOSE_WAIT sockets and returns
// it with a token unique to its command line, for -f.
func startWatchLeaker(t *testing.T) (*exec.Cmd, string, <-chan struct{}) {
	t.Helper()
	addr := healthtest.ClosingListener(t, "127.0.0.1:0")

	token := fmt.Sprintf("watch-e2e-%d-%s", os.Getpid(), t.Name())
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchHelperProcess$", "--", token)
	cmd.Env = append(os.Environ(), "RESREAP_WATCH_E2E_ADDR="+addr,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); stdin.Close(); <-done })
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("helper said %q", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper not ready")
	}
	return cmd, token, done
}

func TestWatchOnceJSONDryRun(t *testing.T) {
	cmd, token, done := startWatchLeaker(t)
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
	if rec.Event != history.EventUnhealthy || rec.PID != cmd.Process.Pid || rec.Evidence == nil || rec.Evidence.CloseWait != 2 {
		t.Errorf("verdict %+v, want the helper unhealthy with 2 CLOSE_WAIT", rec)
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("--json log line is not JSON: %q", l)
		}
	}
	select {
	case <-done:
		t.Error("dry run killed the helper")
	default:
	}
}

func TestWatchOnceKills(t *testing.T) {
	cmd, token, done := startWatchLeaker(t)
	var stdout, stderr bytes.Buffer
	code := runWatch([]string{"--once", "--pattern", token, "--interval", "0.1", "--wait", "0.2"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("helper still running")
	}
	if ps := cmd.ProcessState; ps.String() != "signal: terminated" {
		t.Errorf("helper ended with %v, want SIGTERM", ps)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, want := range []string{"unhealthy pid=" + pid, "stop pid=" + pid, "sent TERM", "exited after TERM"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout %q lacks %q", stdout.String(), want)
		}
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
