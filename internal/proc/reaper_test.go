//go:build linux

package proc

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

// The exit of a started process comes back on its Exit channel, with the
// code it exited with, and only after it was reaped.
func TestReaperHandsBackTheExit(t *testing.T) {
	for _, code := range []int{0, 3} {
		before := time.Now()
		p := spawn(t, helper(t, "exit", testchild.CodeEnv+"="+strconv.Itoa(code), testchild.AfterEnv+"=0s"))
		if p.PID() <= 0 || p.Started().Before(before) {
			t.Fatalf("pid %d started %s, want a pid started after %s", p.PID(), p.Started(), before)
		}
		ex := waitExit(t, p)
		if c, ok := ex.Code(); !ok || c != code || ex.PID != p.PID() || ex.At.Before(p.Started()) {
			t.Errorf("exit %+v (%s), want pid %d exit %d after its start", ex, ex, p.PID(), code)
		}
		if !gone(p.PID()) {
			t.Errorf("pid %d still exists (a zombie?) after its exit was handed back", p.PID())
		}
	}
}

// Once a process is reaped, nothing more is sent to it: its PID may be
// another process's by now.
func TestNoSignalAfterTheReap(t *testing.T) {
	p := spawn(t, helper(t, "idle"))
	ready(t, p)
	if err := p.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if sig, ok := waitExit(t, p).Signal(); !ok || sig != unix.SIGTERM {
		t.Fatalf("exit by %v, want TERM", sig)
	}
	for name, send := range map[string]func() error{
		"Signal":     func() error { return p.Signal(unix.SIGKILL) },
		"SignalMain": func() error { return p.SignalMain(unix.SIGKILL) },
		"Send":       func() error { return p.Send(unix.SIGKILL, false) },
		"Target":     func() error { return p.Target(nil).Signal(unix.SIGKILL) },
	} {
		if err := send(); !errors.Is(err, ErrGone) {
			t.Errorf("%s after the reap: %v, want ErrGone", name, err)
		}
	}
}

// A process re-parented to resreap (the grandchild of a child that died)
// is reaped as an orphan and counted.
func TestOrphansAreReaped(t *testing.T) {
	before := testReaper.Orphans()
	p := spawn(t, helper(t, "grandchild"))
	grandchild := readyGrandchild(t, p)
	// The reaper kills the rest of the group, the grandchild with it,
	// before it reaps p; the grandchild is then resreap's to reap.
	if err := p.SignalMain(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
	testchild.WaitFor(t, "the grandchild to be reaped", func() bool { return gone(grandchild) })
	testchild.WaitFor(t, "the orphan to be counted", func() bool { return testReaper.Orphans() > before })
}

// There is one process-wide Reaper.
func TestOneReaper(t *testing.T) {
	if _, err := NewReaper(zerolog.Nop()); !errors.Is(err, ErrReaperExists) {
		t.Errorf("a second NewReaper: %v, want ErrReaperExists", err)
	}
}
