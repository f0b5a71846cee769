//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// Signals: resreap never signals a process that is not its own: not a
// stranger that got the PID of a process it reaped, not the group a child
// joined; and a process a hook or child leaves behind holds up nothing.

// leakHealth makes a child's CLOSE_WAIT leak judged within a second.
const leakHealth = `interval = "200ms"
close_wait = { threshold = 1, persist = 2 }
fds = { enabled = false }
`

// PID reuse, built in a PID namespace where the scenario decides which PID
// comes next: a before_restart hook exits leaving a setsid process that
// holds its output (so resreap waits for that output a while after
// reaping it); at once a stranger is forked with the hook's PID, and
// calls setsid so its process group ID is the hook's too. The old code
// killed that stranger (4 times out of 4) with a SIGKILL to the hook's
// process group. The stranger must survive the restart and resreap's
// shutdown.
func TestFaultSignalPIDReuse(t *testing.T) {
	testchild.NeedRoot(t)
	unshare := testchild.NeedCommand(t, "unshare")
	testchild.NeedCommand(t, "setsid")
	quickExit(t)
	const rounds = 4
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "hook.pid")
	sink := testchild.ClosingListener(t, "127.0.0.1:0")
	// The hook writes its PID, starts a setsid sleep holding its stdout,
	// waits until it has its own session (so the hook's group is empty
	// once the hook is reaped), and agrees.
	hook := `echo $$ > "$0.tmp" && mv "$0.tmp" "$0"
setsid sleep 5 >&1 &
until [ "$(cut -d' ' -f6 /proc/$!/stat)" = "$!" ]; do sleep 0.01; done
exit 0`
	cfg := faultConfig(t, dir, `cgroup = "off"`, helperChild("leaker", "leak", testchild.AddrEnv+"="+sink, testchild.NEnv+"=1")+
		"[child.health]\n"+leakHealth+fmt.Sprintf("before_restart = { command = [\"sh\", \"-c\", %q, %q], timeout = \"10s\" }\n", hook, pidFile))
	cmd := exec.Command(unshare, "-fp", "--mount-proc", "--kill-child", os.Args[0], "-test.run=^$", "--", "run", "-c", cfg, "--log-format", "json")
	cmd.Env = append(append(os.Environ(), testchild.Env("pid-reuse", testchild.NEnv+"="+strconv.Itoa(rounds), testchild.PIDFileEnv+"="+pidFile)...), mainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("scenario: %v\n%s", err, tail(stderr.String(), 60))
		}
	case <-time.After(150 * time.Second):
		cmd.Process.Kill() // --kill-child: the namespace goes with it
		<-done
		t.Fatalf("scenario still running after 150s:\n%s", tail(stderr.String(), 60))
	}
	var n, recycled, afterRestart, afterShutdown int
	if _, err := fmt.Sscanf(stdout.String(), "pid-reuse rounds %d recycled %d alive-after-restart %d alive-after-shutdown %d",
		&n, &recycled, &afterRestart, &afterShutdown); err != nil {
		t.Fatalf("scenario output %q: %v\n%s", stdout.String(), err, tail(stderr.String(), 60))
	}
	if recycled != rounds || afterRestart != recycled || afterShutdown != recycled {
		t.Errorf("%d of %d rounds gave the stranger the hook's PID; alive after the restart: %d, after shutdown: %d\n%s",
			recycled, n, afterRestart, afterShutdown, tail(stderr.String(), 60))
	}
	t.Logf("PID reuse: %d/%d strangers with a reaped hook's PID and group ID alive after the restart, %d/%d after shutdown (%d rounds)",
		afterRestart, recycled, afterShutdown, recycled, n)
}

// A child leaves its process group for resreap's and ignores TERM: resreap
// stop returns within the escalation and the kill wait, says the child was
// killed, signals nothing else (resreap itself is in that group), and
// resreap exits on TERM in time while the child runs again.
func TestFaultSignalLeaveGroup(t *testing.T) {
	for _, mode := range []string{"off", "auto"} {
		t.Run("cgroup="+mode, func(t *testing.T) {
			if mode == "auto" {
				cgrouptest.Need(t)
			}
			dir := t.TempDir()
			cfg := faultConfig(t, dir, fmt.Sprintf("cgroup = %q", mode), helperChild("runaway", "leave-group")+
				`stop = { signals = ["TERM"], wait = "1s", kill_wait = "2s" }`+"\n")
			const bound = 1*time.Second + 2*time.Second + 5*time.Second // escalation + kill wait + slack
			r := startRun(t, cfg, runOpts{})
			var pid int
			testchild.WaitFor(t, "the child in resreap's process group", func() bool {
				st, err := statusOf(t, cfg)
				if err != nil || st.Children[0].State != "running" {
					return false
				}
				pid = st.Children[0].PID
				return procStat(pid, 5) == r.pid
			})
			code, out, took := ctl("stop", "runaway", "-c", cfg)
			if code != 0 || took > bound || !strings.Contains(out, "stopped by KILL") || !strings.Contains(out, "killed") {
				t.Errorf("stop: exit %d after %s (bound %s): %s", code, took, bound, out)
			}
			if procState(pid) != 0 {
				t.Errorf("child %d still there (state %c) after the stop", pid, procState(pid))
			}
			if r.exited() {
				t.Fatalf("resreap died with its child's group: %s", r.cmd.ProcessState)
			}
			if code, out := resreap(t, "start", "runaway", "-c", cfg); code != 0 {
				t.Fatalf("start: exit %d: %s", code, out)
			}
			testchild.WaitFor(t, "the new child in resreap's process group", func() bool {
				st, err := statusOf(t, cfg)
				return err == nil && st.Children[0].PID != 0 && procStat(st.Children[0].PID, 5) == r.pid
			})
			shutdown := r.stop(t, syscall.SIGTERM, bound)
			if ws := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 0 {
				t.Errorf("resreap ended with %s", r.cmd.ProcessState)
			}
			t.Logf("cgroup=%s: a child in resreap's group: stop took %s (bound %s): %s; shutdown with it running took %s",
				mode, took.Round(time.Millisecond), bound, strings.TrimSpace(out), shutdown.Round(time.Millisecond))
		})
	}
}

// A before_restart hook leaves a setsid process holding its output pipe
// and agrees: the restart follows the hook within about a second, not
// after the hook's timeout, and the leftover does not outlive the stop.
func TestFaultSignalHookLeftover(t *testing.T) {
	cgrouptest.Need(t) // with process groups only, a setsid process is out of reach: a known limit
	testchild.NeedCommand(t, "setsid")
	dir := t.TempDir()
	sink := testchild.ClosingListener(t, "127.0.0.1:0")
	marker := filepath.Join(dir, "hooked")
	// Only the first run leaves something behind; it says what.
	hook := `[ -e "$0" ] && exit 0; touch "$0"
setsid sleep 600 &
until [ "$(cut -d' ' -f6 /proc/$!/stat)" = "$!" ]; do sleep 0.01; done
echo "leftover $!"
exit 0`
	const timeout = 5 * time.Second
	cfg := faultConfig(t, dir, `cgroup = "auto"`, helperChild("leaker", "leak", testchild.AddrEnv+"="+sink, testchild.NEnv+"=1")+
		"[child.health]\n"+leakHealth+fmt.Sprintf("before_restart = { command = [\"sh\", \"-c\", %q, %q], timeout = %q }\n", hook, marker, timeout.String()))
	r := startRun(t, cfg, runOpts{})
	line := r.waitLogsWhere(t, "the hook's leftover", 1, func(m map[string]any) bool {
		return m["message"] == "hook output" && strings.HasPrefix(fmt.Sprint(m["line"]), "leftover ")
	})[0]
	leftover, _ := strconv.Atoi(strings.TrimPrefix(line["line"].(string), "leftover "))
	t.Cleanup(func() {
		// Whatever the verdict, the leftover goes before resreap stops,
		// so that its cgroup can be removed.
		if data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", leftover)); string(data) == "sleep\x00600\x00" {
			syscall.Kill(leftover, syscall.SIGKILL)
		}
	})
	var verdict, firstSignal time.Time
	testchild.WaitFor(t, "the health restart", func() bool {
		for _, rec := range readHistory(t, dir, history.Filter{Child: "leaker"}) {
			switch {
			case rec.Event == history.EventUnhealthy && verdict.IsZero():
				verdict = rec.Time
			case rec.Event == history.EventStop && !verdict.IsZero():
				firstSignal = rec.SignalsSent[0].Time
				return true
			case rec.Event == history.EventVeto:
				t.Fatalf("the hook vetoed: %s", rec.Message)
			}
		}
		return false
	})
	delay := firstSignal.Sub(verdict)
	if delay > timeout+5*time.Second {
		t.Errorf("the restart came %s after the verdict; want about a second, at most the hook's timeout %s + 5s", delay, timeout)
	}
	if code, out := resreap(t, "stop", "leaker", "-c", cfg); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, out)
	}
	gone := waitGoneFor(leftover, 5*time.Second)
	if !gone {
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", leftover))
		t.Errorf("the hook's leftover %d (session %d, group %d, cgroup %s) still runs after the child's restart and stop",
			leftover, procStat(leftover, 6), procStat(leftover, 5), strings.TrimSpace(string(cg)))
	}
	if r.exited() {
		t.Fatalf("resreap exited: %s", r.cmd.ProcessState)
	}
	t.Logf("hook leftover: restart %s after the verdict (hook timeout %s); leftover %d gone after the stop: %v",
		delay.Round(time.Millisecond), timeout, leftover, gone)
}

// waitGoneFor waits up to d for pid to be gone (or a zombie).
func waitGoneFor(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s := procState(pid); s == 0 || s == 'Z' {
			return true
		}
	}
	return false
}
