//go:build linux

package harness

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// startSh starts sh -c script as a ReadyProc, stopped (or killed) when
// the test ends.
func startSh(t *testing.T, script string) *ReadyProc {
	t.Helper()
	p, err := StartReady(exec.Command("sh", "-c", script))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(time.Now()) })
	return p
}

// waitCtx bounds a wait that should end at once.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The ready line is returned, not the lines before it, while the process
// runs on; closing its stdin stops it, and the reader goroutine ends.
func TestReadyProcReady(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := startSh(t, `echo starting; echo "ready pids=1,2"; exec cat`)
	line, err := p.WaitReady(waitCtx(t))
	if err != nil || line != "ready pids=1,2" {
		t.Fatalf("WaitReady: %q, %v; want the ready line", line, err)
	}
	select {
	case <-p.Done():
		t.Fatalf("exited after its ready line: %v", p.Err())
	default:
	}
	p.Stop(time.Now().Add(30 * time.Second))
	if err := p.Err(); err != nil {
		t.Errorf("stopped by the end of its stdin: %v, want a clean exit", err)
	}
}

// A process that exits first fails the wait with ErrExited and its exit
// status.
func TestReadyProcExitsFirst(t *testing.T) {
	p := startSh(t, `echo "not ready"; exit 3`)
	_, err := p.WaitReady(waitCtx(t))
	var exit *exec.ExitError
	if !errors.Is(err, ErrExited) || !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("WaitReady: %v; want ErrExited with exit status 3", err)
	}
}

// A process that printed its ready line and exited at once was ready: the
// exit, seen at the same time, does not hide the line.
func TestReadyProcReadyThenExit(t *testing.T) {
	for range 20 {
		p := startSh(t, `echo ready; exit 0`)
		<-p.Done()
		if line, err := p.WaitReady(waitCtx(t)); err != nil || line != "ready" {
			t.Fatalf("WaitReady after exit: %q, %v; want the ready line", line, err)
		}
	}
}

// The wait ends with the context; the process is left running.
func TestReadyProcContext(t *testing.T) {
	p := startSh(t, `exec cat`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.WaitReady(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitReady: %v, want context.Canceled", err)
	}
	select {
	case <-p.Done():
		t.Fatalf("exited: %v", p.Err())
	default:
	}
}

// Stop kills a process that does not stop at the end of its stdin.
func TestReadyProcStopKills(t *testing.T) {
	p := startSh(t, `echo ready; exec sleep 1000`)
	if _, err := p.WaitReady(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	p.Stop(time.Now())
	var exit *exec.ExitError
	if !errors.As(p.Err(), &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("after Stop: %v, want killed", p.Err())
	}
}

// Output after the ready line, however much and however long its lines,
// is read: the process never blocks on a full pipe and stops when asked.
func TestReadyProcDrainsOutput(t *testing.T) {
	p := startSh(t, `echo ready; seq 1 100000; head -c 200000 /dev/zero; echo; exec cat`)
	if _, err := p.WaitReady(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	p.Stop(time.Now().Add(30 * time.Second))
	if err := p.Err(); err != nil {
		t.Errorf("after Stop: %v, want a clean exit (the output read to its end)", err)
	}
}
