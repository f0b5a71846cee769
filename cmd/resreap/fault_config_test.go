//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
	"github.com/resreap/resreap/supervisor/control"
)

// The config file: resreap reads it at start, at every reload and for
// every command that finds the socket through it. It must be a regular
// file, and nothing about reading it may hold up resreap or its exit.

// ctlWithin is ctl that kills the command after bound: a command that
// hangs is a failure to report, not a test that never ends.
func ctlWithin(bound time.Duration, args ...string) (code int, out string, took time.Duration) {
	cmd := resreapCmd(args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return -1, err.Error(), 0
	}
	timer := time.AfterFunc(bound, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	took = time.Since(start)
	if !timer.Stop() {
		return -1, fmt.Sprintf("still running after %s, killed: %s", bound, b.String()), took
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), b.String(), took
	}
	return 0, b.String(), took
}

// callWithin sends req to the control socket and returns the answer and
// how long it took, failing the test after bound.
func callWithin(t *testing.T, sock string, req control.Request, bound time.Duration) (control.Response, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	resp, err := control.Call(ctx, sock, req)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s: no answer after %s: %v", req.Cmd, took, err)
	}
	return resp, took
}

// svcPID is the PID of the running child svc, from a status asked on the
// socket (the config file may not be readable), or 0.
func svcPID(t *testing.T, sock string) int {
	t.Helper()
	resp, _ := callWithin(t, sock, control.Request{Cmd: control.CmdStatus}, 30*time.Second)
	for _, c := range resp.Status {
		if c.Name == "svc" && c.State == "running" {
			return c.PID
		}
	}
	return 0
}

// exitBound is how long resreap may take to exit after TERM with a child
// that ends at its first TERM: at most 0.5s measured under a load of 25
// on 2 cores. A TERM the kernel handed to a thread held in the config's
// open went unseen for 4.6s and 6s in 2 runs of 30, before the reload
// read on a thread that blocks such signals.
const exitBound = 5 * time.Second

// A FIFO as config file: check and run refuse it at once; with resreap
// running, the file replaced by a FIFO, SIGHUP and `resreap reload` answer
// at once with the error, the child keeps running, and TERM makes resreap
// exit. (Before: check, run, the reload and the exit all waited for a
// writer to the FIFO, for ever.)
func TestFaultConfigFIFO(t *testing.T) {
	dir := t.TempDir()
	quickExit(t)
	fifo := filepath.Join(dir, "fifo.toml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	const refusal = "not a regular file: it is a FIFO"
	var took [5]time.Duration
	for i, args := range [][]string{{"check", fifo}, {"run", "-c", fifo, "--log-format", "json"}} {
		code, out, d := ctlWithin(30*time.Second, args...)
		took[i] = d
		if code != 2 || !strings.Contains(out, fifo+": "+refusal) {
			t.Errorf("%s on a FIFO: exit %d after %s: %s", args[0], code, d, out)
		}
	}

	cfg := faultConfig(t, dir, "", helperChild("svc", "idle"))
	sock := filepath.Join(dir, "run", "control.sock")
	r := startRun(t, cfg, runOpts{})
	waitStatus(t, cfg, running("svc"))
	pid := svcPID(t, sock)
	if err := os.Rename(cfg, cfg+".good"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Rename(cfg+".good", cfg) }) // before startRun's cleanup

	rejected := func(m map[string]any) bool {
		return m["message"] == "reload rejected; children keep running with the old configuration" && strings.Contains(fmt.Sprint(m["error"]), refusal)
	}
	start := time.Now()
	if err := syscall.Kill(r.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.waitLogsWhere(t, "the SIGHUP reload rejected", 1, rejected)
	took[2] = time.Since(start)

	resp, d := callWithin(t, sock, control.Request{Cmd: control.CmdReload}, 30*time.Second)
	took[3] = d
	if resp.OK || !strings.Contains(resp.Error, cfg+": "+refusal) {
		t.Errorf("reload on the socket: %+v", resp)
	}
	// The command finds the socket through the file: it refuses it too.
	code, out, d := ctlWithin(30*time.Second, "reload", "-c", cfg)
	if code != 2 || !strings.Contains(out, refusal) {
		t.Errorf("resreap reload -c on a FIFO: exit %d after %s: %s", code, d, out)
	}
	for i, what := range []string{"the SIGHUP reload", "the reload on the socket"} {
		if took[2+i] > time.Second {
			t.Errorf("%s answered after %s, want within 1s", what, took[2+i])
		}
	}
	if now := svcPID(t, sock); now != pid || pid == 0 {
		t.Errorf("svc was PID %d before the reloads, %d after: want it running on", pid, now)
	}
	took[4] = r.stop(t, syscall.SIGTERM, 30*time.Second)
	if took[4] > exitBound {
		t.Errorf("resreap exited %s after TERM, want within %s", took[4], exitBound)
	}
	if !r.cmd.ProcessState.Success() {
		t.Errorf("resreap exited %s after TERM", r.cmd.ProcessState)
	}
	t.Logf("FIFO config: check refused it in %s, run in %s; running: SIGHUP rejected in %s, reload on the socket in %s, `reload -c` exit %d in %s; svc kept PID %d; exit %s after TERM",
		took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), took[2].Round(time.Millisecond),
		took[3].Round(time.Millisecond), code, d.Round(time.Millisecond), pid, took[4].Round(time.Millisecond))
}

// A reload whose read of the config file hangs (fanotify holds every open
// of it unanswered, as a hung network filesystem would): SIGHUP and a
// reload on the socket both wait, the child keeps running, and TERM still
// makes resreap stop its child and exit.
func TestFaultConfigSlowReload(t *testing.T) {
	testchild.NeedRoot(t)
	fan, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_CLOEXEC)
	testchild.Need(t, "fanotify permission events", err == nil)
	gate := os.NewFile(uintptr(fan), "fanotify")
	released := false
	release := func() { // closing the group lets every held open through
		if !released {
			gate.Close()
			released = true
		}
	}
	defer release()

	dir := t.TempDir()
	quickExit(t)
	cfg := faultConfig(t, dir, "", helperChild("svc", "idle"))
	sock := filepath.Join(dir, "run", "control.sock")
	r := startRun(t, cfg, runOpts{})
	t.Cleanup(release) // before startRun's cleanup
	waitStatus(t, cfg, running("svc"))
	pid := svcPID(t, sock)
	if err := unix.FanotifyMark(fan, unix.FAN_MARK_ADD, unix.FAN_OPEN_PERM, unix.AT_FDCWD, cfg); err != nil {
		t.Fatal(err)
	}
	// From here on nothing here may open cfg: it would wait too.

	if err := syscall.Kill(r.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitHeldOpen(t, gate, r.pid)
	type answer struct {
		resp control.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		resp, err := control.Call(ctx, sock, control.Request{Cmd: control.CmdReload})
		answered <- answer{resp, err}
	}()
	waitHeldOpen(t, gate, r.pid)
	if now := svcPID(t, sock); now != pid || pid == 0 {
		t.Errorf("svc was PID %d, %d while the reloads wait: want it running on", pid, now)
	}

	took := r.stop(t, syscall.SIGTERM, 30*time.Second)
	if took > exitBound {
		t.Errorf("resreap exited %s after TERM, want within %s:\n%s", took, exitBound, tail(r.output(), 20))
	}
	if !r.cmd.ProcessState.Success() {
		t.Errorf("resreap exited %s after TERM", r.cmd.ProcessState)
	}
	if procState(pid) != 0 {
		t.Errorf("svc (PID %d) outlived resreap", pid)
	}
	var a answer
	select {
	case a = <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("the reload on the socket got no answer 30s after resreap exited")
	}
	if a.err == nil && a.resp.OK {
		t.Errorf("the reload on the socket succeeded: %+v", a.resp)
	}
	t.Logf("config open held by fanotify: SIGHUP and a reload on the socket waiting; resreap exited %s after TERM (exit %s); the reload got: %v %q",
		took.Round(time.Millisecond), r.cmd.ProcessState, a.err, a.resp.Error)
}

// waitHeldOpen waits until pid opens a file marked on the fanotify group
// gate, and leaves that open held: unanswered.
func waitHeldOpen(t *testing.T, gate *os.File, pid int) {
	t.Helper()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := gate.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, err := gate.Read(buf)
		if err != nil {
			t.Fatalf("no open of the config file by resreap within 30s: %v", err)
		}
		for b := buf[:n]; len(b) >= unix.FAN_EVENT_METADATA_LEN; {
			size := binary.NativeEndian.Uint32(b[0:4])
			fd := int32(binary.NativeEndian.Uint32(b[16:20]))
			from := int32(binary.NativeEndian.Uint32(b[20:24]))
			if int(from) != pid { // another opener: let it through
				resp := unix.FanotifyResponse{Fd: fd, Response: unix.FAN_ALLOW}
				binary.Write(gate, binary.NativeEndian, resp) //nolint:errcheck // it then waits for release
			}
			if fd >= 0 {
				unix.Close(int(fd)) // an unanswered event stays held
			}
			if int(from) == pid {
				return
			}
			if size == 0 || int(size) > len(b) {
				break
			}
			b = b[size:]
		}
	}
}
