//go:build linux

package cgroup

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resreap/resreap/internal/testchild"
)

func TestWaitEmptyWakesOnExit(t *testing.T) {
	g := newTestGroup(t)
	cmd := startIn(t, g, "sleep", "600")
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.WaitEmpty(ctx) }()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitEmpty: %v", err)
	}
	_ = cmd.Wait()
}

func TestWaitEmptyAlreadyEmpty(t *testing.T) {
	g := newTestGroup(t)
	if err := g.WaitEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestWaitEmptyMissing(t *testing.T) {
	g := newTestGroup(t)
	missing, _ := g.Child("missing")
	if err := missing.WaitEmpty(context.Background()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WaitEmpty of a missing cgroup: %v, want fs.ErrNotExist", err)
	}
}

// TestWaitEmptyContext: a populated cgroup, a context that ends; WaitEmpty
// returns its error, with no goroutine and no descriptor left behind.
func TestWaitEmptyContext(t *testing.T) {
	g := newTestGroup(t)
	startIn(t, g, "sleep", "600")
	fds := openFDs(t)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.WaitEmpty(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitEmpty: %v, want DeadlineExceeded", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.WaitEmpty(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WaitEmpty: %v, want Canceled", err)
		}
	case <-time.After(patience):
		t.Fatal("WaitEmpty did not return after cancel")
	}

	goleak.VerifyNone(t)
	if now := openFDs(t); now != fds {
		t.Errorf("open descriptors: %d before, %d after", fds, now)
	}
}

// openFDs counts the test process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestEventsNotify pins down what WaitEmpty sleeps on: the kernel raises
// IN_MODIFY on cgroup.events when "populated" changes. Without it
// WaitEmpty would still return, a second late, from its re-read.
func TestEventsNotify(t *testing.T) {
	g := newTestGroup(t)
	cmd := startIn(t, g, "sleep", "600")
	f, err := watchModify(g.file("cgroup.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reap(cmd)
	if err := f.SetReadDeadline(time.Now().Add(patience)); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Read(make([]byte, 4096)); err != nil || n == 0 {
		t.Fatalf("no inotify event after the cgroup emptied: %d, %v", n, err)
	}
	if pop, err := g.Populated(); err != nil || pop {
		t.Errorf("Populated() = %v, %v after the event", pop, err)
	}
}

// TestWaitEmptyWithoutInotify: with the user's inotify instances used up
// (as by other programs on a busy host), WaitEmpty cannot watch
// cgroup.events; it polls it instead, still wakes on the exit, and says
// it went on without the watch.
func TestWaitEmptyWithoutInotify(t *testing.T) {
	g := newTestGroup(t)
	missing, _ := g.Child("missing")
	cmd := startIn(t, g, "sleep", "600")
	_, release := testchild.UseUpInotify(t)
	defer release()
	faults := &Faults{}
	ctx, cancel := context.WithTimeout(WithFaults(context.Background(), faults), patience)
	defer cancel()

	done := make(chan error, 1)
	go func() { done <- g.WaitEmpty(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("WaitEmpty returned %v with the process alive", err)
	case <-time.After(3 * pollEvery):
	}
	start := time.Now()
	reap(cmd)
	if err := <-done; err != nil {
		t.Fatalf("WaitEmpty: %v", err)
	}
	t.Logf("empty seen %s after the reap, polling every %s", time.Since(start).Round(time.Millisecond), pollEvery)
	if have := faults.List(); len(have) != 1 || have[0].Helper != HelperWatch {
		t.Errorf("faults %v, want the watch", have)
	}
	if err := missing.WaitEmpty(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WaitEmpty of a missing cgroup without inotify: %v, want fs.ErrNotExist", err)
	}
}
