//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/testchild"
)

// The test binary doubles as the resreap binary: with RESREAP_TEST_MAIN
// set it runs main's dispatch on its arguments. End-to-end tests start it
// as a real subprocess, so `resreap run` gets a process of its own (its
// reaper, its signals) and can be SIGKILLed.
const mainEnv = "RESREAP_TEST_MAIN"

func TestMain(m *testing.M) {
	proc.RunExecShim()
	testchild.Main()
	if os.Getenv(mainEnv) != "" {
		os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
	}
	// The CLI scripts (testdata/script) run the binary as "resreap".
	testscript.Main(m, map[string]func(){
		"resreap": func() { os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// resreapCmd returns a command running `resreap args...`.
func resreapCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return cmd
}

// resreap runs one short resreap command and returns its exit code and output.
func resreap(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := resreapCmd(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatalf("resreap %v: %v", args, err)
	}
	return 0, out.String()
}

// daemon is a `resreap run` subprocess.
type daemon struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []map[string]any // JSON log lines
	raw  bytes.Buffer
	done chan struct{}
}

// startDaemon starts `resreap run -c cfg` with JSON logs and waits until its
// control socket answers.
func startDaemon(t *testing.T, cfg string) *daemon {
	t.Helper()
	return startDaemonEnv(t, cfg)
}

// startDaemonEnv is startDaemon with env ("K=V") added to resreap's
// environment.
func startDaemonEnv(t *testing.T, cfg string, env ...string) *daemon {
	t.Helper()
	cmd := resreapCmd("run", "-c", cfg, "--log-format", "json")
	cmd.Env = append(cmd.Env, env...)
	return runDaemon(t, cmd)
}

// runDaemon starts cmd, a `resreap run` with JSON logs (under a wrapper
// such as setpriv, say), as startDaemon does.
func runDaemon(t *testing.T, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout = io.Discard
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			d.mu.Lock()
			d.raw.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				d.logs = append(d.logs, m)
			}
			d.mu.Unlock()
		}
		d.cmd.Wait()
	}()
	t.Cleanup(func() {
		d.kill(t, syscall.SIGTERM)
		d.checkCgroup(t)
	})
	d.waitLog(t, "resreap started")
	return d
}

// checkCgroup removes the cgroup subtree the daemon worked in, if it is
// still there: expected after a SIGKILL of resreap (the next one would
// clean it up), a test failure after a clean exit.
func (d *daemon) checkCgroup(t *testing.T) {
	path := d.logField("children are owned by cgroup", "cgroup")
	if path == "" {
		return
	}
	h, err := cgroup.Detect()
	if err != nil {
		t.Error(err)
		return
	}
	root, err := h.Group(path)
	if err != nil {
		t.Error(err)
		return
	}
	if ok, _ := root.Exists(); !ok {
		return
	}
	if d.cmd.ProcessState != nil && d.cmd.ProcessState.Exited() {
		t.Errorf("resreap exited (%s) and left its cgroup subtree %s", d.cmd.ProcessState, path)
	}
	leaves, _ := cgroup.SubtreeAt(root).Leaves()
	for _, l := range leaves {
		l.Group.Kill() //nolint:errcheck // best effort: the test is over
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l.Group.WaitEmpty(ctx) //nolint:errcheck // Remove says
		cancel()
		if err := l.Group.Remove(); err != nil {
			t.Errorf("leftover cgroup: %v", err)
		}
	}
	for _, g := range []cgroup.Group{cgroup.SubtreeAt(root).Supervisor(), root} {
		if err := g.Remove(); err != nil {
			t.Errorf("leftover cgroup: %v", err)
		}
	}
}

// logField returns field of the first log line whose message is msg.
func (d *daemon) logField(msg, field string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.logs {
		if m["message"] == msg {
			v, _ := m[field].(string)
			return v
		}
	}
	return ""
}

// kill signals the daemon and waits for it to exit.
func (d *daemon) kill(t *testing.T, sig syscall.Signal) {
	d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Errorf("resreap did not exit 60s after %s", sig)
	}
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.raw.String()
}

// waitLog waits for a log line whose message is msg, or that records the
// history event msg ("exit", "orphaned").
func (d *daemon) waitLog(t *testing.T, msg string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		for _, m := range d.logs {
			if m["message"] == msg || m["event"] == msg {
				d.mu.Unlock()
				return
			}
		}
		d.mu.Unlock()
		select {
		case <-d.done:
			t.Fatalf("resreap exited before logging %q:\n%s", msg, d.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no log line %q in 60s:\n%s", msg, d.output())
}

// writeConfig writes a config whose state lives in dir.
func writeConfig(t *testing.T, dir, children string) string {
	t.Helper()
	cfg := fmt.Sprintf(`[supervisor]
state_dir = %[1]q
control_socket = %[2]q

[defaults]
start_seconds = "100ms"
backoff = { initial = "50ms", max = "200ms" }
start_limit = { burst = 1000, interval = "1m" }
stop = { signals = ["TERM"], wait = "1s" }

%[3]s`, dir, filepath.Join(dir, "run", "control.sock"), children)
	path := filepath.Join(dir, "resreap.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitStatus polls `resreap status --json` until cond holds for the
// children, by name. Exit 1 (some child not up) is an answer too.
func waitStatus(t *testing.T, cfg string, cond func(map[string]map[string]any) bool) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out := resreap(t, "status", "--json", "-c", cfg)
		var st struct {
			Children []map[string]any `json:"children"`
		}
		byName := map[string]map[string]any{}
		if (code == 0 || code == 1) && json.Unmarshal([]byte(out), &st) == nil {
			for _, c := range st.Children {
				byName[c["name"].(string)] = c
			}
			if cond(byName) {
				return byName
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never matched; last (exit %d):\n%s", code, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func running(names ...string) func(map[string]map[string]any) bool {
	return func(m map[string]map[string]any) bool {
		for _, n := range names {
			if m[n] == nil || m[n]["state"] != "running" {
				return false
			}
		}
		return true
	}
}

func contains(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
