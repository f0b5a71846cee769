//go:build linux

package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/supervisor"
)

var errStartFailed = errors.New("exec: permission denied")

// fakeHandler is a supervisor of two children, "fe" and "broken" (whose
// start fails). When stopGate is set, Stop and Signal announce themselves
// on stopEntered and wait for stopGate (or their context) before
// answering, as a child busy stopping makes them wait.
type fakeHandler struct {
	stopEntered chan string
	stopGate    chan struct{}
	reloadErr   error

	mu   sync.Mutex
	sent []syscall.Signal
}

var since = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func (f *fakeHandler) known(child string) error {
	if child != "fe" && child != "broken" {
		return fmt.Errorf("%w %q", supervisor.ErrUnknownChild, child)
	}
	return nil
}

func (f *fakeHandler) Status() (Supervisor, []ChildStatus) {
	return Supervisor{PID: 1, Started: since, Ownership: "process group", Children: 2, Up: 1}, []ChildStatus{
		{Name: "fe", State: "running", Up: true, PID: 1234, Since: since, Uptime: history.Duration(90 * time.Second),
			Restarts: 2, LastReason: "close_wait", CloseWait: &CloseWait{Now: 3, Persistent: 1}, FDs: &FDs{PID: 1234, Open: 40, Limit: 1024}},
		{Name: "broken", State: "fatal", LastReason: "start_failed"},
	}
}

func (f *fakeHandler) Start(_ context.Context, child string, _ time.Duration) (ChildStatus, error) {
	if err := f.known(child); err != nil {
		return ChildStatus{}, err
	}
	if child == "broken" {
		return ChildStatus{}, fmt.Errorf("child %q: start: %w", child, errStartFailed)
	}
	return ChildStatus{Name: child, State: "starting", PID: 1300, Since: since}, nil
}

func (f *fakeHandler) stopReport(child string) StopReport {
	return StopReport{
		Child: child, PID: 1234, Signal: "KILL", Killed: true, Duration: history.Duration(2100 * time.Millisecond),
		SignalsSent: []history.SignalSent{{Signal: "TERM", Time: since}, {Signal: "KILL", Time: since.Add(2 * time.Second)}},
	}
}

func (f *fakeHandler) Stop(ctx context.Context, child string) (StopReport, error) {
	if err := f.known(child); err != nil {
		return StopReport{}, err
	}
	if err := f.gate(ctx, child); err != nil {
		return StopReport{}, err
	}
	return f.stopReport(child), nil
}

// gate waits for stopGate, when set, or ctx.
func (f *fakeHandler) gate(ctx context.Context, child string) error {
	if f.stopGate == nil {
		return nil
	}
	f.stopEntered <- child
	select {
	case <-f.stopGate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeHandler) Restart(_ context.Context, child string, _ time.Duration) (StopReport, error) {
	if err := f.known(child); err != nil {
		return StopReport{}, err
	}
	code := 0
	return StopReport{Child: child, PID: 1234, ExitCode: &code, Duration: history.Duration(300 * time.Millisecond),
		SignalsSent: []history.SignalSent{{Signal: "TERM", Time: since}}}, nil
}

func (f *fakeHandler) Reload(context.Context) (ReloadReport, error) {
	if f.reloadErr != nil {
		return ReloadReport{}, f.reloadErr
	}
	return ReloadReport{Started: []string{"api"}, Restarted: []string{"fe"}, Unchanged: []string{"broken"}}, nil
}

func (f *fakeHandler) Signal(ctx context.Context, child string, sig syscall.Signal, _ bool) error {
	if err := f.known(child); err != nil {
		return err
	}
	if err := f.gate(ctx, child); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, sig)
	return nil
}

func (f *fakeHandler) signals() []syscall.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// testLogger writes to the test log; every goroutine that logs is waited
// for before the test ends.
func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

// serve listens at path and serves h until the test ends; it returns the
// server and a function that stops it and returns Serve's error.
func serve(t *testing.T, path string, opts Options, h Handler) (*Server, func() error) {
	t.Helper()
	srv, err := Listen(path, opts, testLogger(t))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, h) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return srv, stop
}

// call is Call with a bound generous enough for a loaded machine, so that
// a hang fails the test instead of the run.
func call(t *testing.T, path string, req Request) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := Call(ctx, path, req)
	if err != nil {
		t.Fatalf("Call(%+v): %v", req, err)
	}
	return resp
}
