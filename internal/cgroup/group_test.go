//go:build linux

package cgroup

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestChildNames(t *testing.T) {
	g := Group{dir: "/sys/fs/cgroup/x", path: "/x"}
	for _, bad := range []string{"", ".", "..", "a/b", "a\nb"} {
		if _, err := g.Child(bad); err == nil {
			t.Errorf("Child(%q): no error", bad)
		}
	}
	c, err := g.Child("child-fe server")
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir() != "/sys/fs/cgroup/x/child-fe server" || c.Path() != "/x/child-fe server" {
		t.Errorf("have %q %q", c.Dir(), c.Path())
	}
	if _, err := (Group{}).Child("a"); err == nil {
		t.Error("zero Group: Child gave no error")
	}
}

func TestZeroGroup(t *testing.T) {
	var g Group
	if err := g.Create(); !errors.Is(err, errZeroGroup) {
		t.Errorf("Create: %v", err)
	}
	if _, err := g.Procs(); !errors.Is(err, errZeroGroup) {
		t.Errorf("Procs: %v", err)
	}
	if err := g.Kill(); !errors.Is(err, errZeroGroup) {
		t.Errorf("Kill: %v", err)
	}
	if err := g.WaitEmpty(context.Background()); !errors.Is(err, errZeroGroup) {
		t.Errorf("WaitEmpty: %v", err)
	}
}

func TestCreateRemove(t *testing.T) {
	g := newTestGroup(t)
	c, err := g.Child("c")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // existing is fine
		if err := c.Create(); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := c.Exists(); !ok || err != nil {
		t.Fatalf("Exists() = %v, %v after Create", ok, err)
	}
	if err := g.Create(); err != nil {
		t.Fatalf("Create of an existing cgroup with children: %v", err)
	}
	// An interface file is no cgroup.
	if f, _ := g.Child("cgroup.procs"); f.Create() == nil {
		t.Error("Create over cgroup.procs: no error")
	}
	if err := g.Remove(); !errors.Is(err, ErrNotEmpty) || !errors.Is(err, unix.EBUSY) {
		t.Errorf("Remove with a child cgroup: %v, want ErrNotEmpty and EBUSY", err)
	}
	for range 2 { // missing is fine
		if err := c.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := c.Exists(); ok || err != nil {
		t.Fatalf("Exists() = %v, %v after Remove", ok, err)
	}
}

func TestRemoveWithProcess(t *testing.T) {
	g := newTestGroup(t)
	cmd := startIn(t, g, "sleep", "600")
	err := g.Remove()
	if !errors.Is(err, ErrNotEmpty) || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("Remove with a live process: %v, want ErrNotEmpty and EBUSY", err)
	}
	t.Log(err)
	reap(cmd)
	if err := g.Remove(); err != nil {
		t.Fatalf("Remove once empty: %v", err)
	}
}

// TestRemoveWait: a cgroup busy for a while (here with a child cgroup, as
// a leaf is while the kernel finishes its last exiting task) is removed
// once it is not; one that stays busy gives ErrNotEmpty when ctx ends.
func TestRemoveWait(t *testing.T) {
	g := newTestGroup(t)
	c, _ := g.Child("c")
	busy, _ := c.Child("busy")
	for _, x := range []Group{c, busy} {
		if err := x.Create(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.RemoveWait(ctx); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("RemoveWait of a cgroup that stays busy: %v, want ErrNotEmpty", err)
	}
	removed := make(chan error, 1)
	go func() {
		time.Sleep(3 * removeEvery) // busy for a few tries
		removed <- busy.Remove()
	}()
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := c.RemoveWait(ctx); err != nil {
		t.Fatalf("RemoveWait once no longer busy: %v", err)
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Exists(); ok || err != nil {
		t.Errorf("Exists() = %v, %v after RemoveWait", ok, err)
	}
	t.Logf("removed %s after the first try", time.Since(start).Round(time.Millisecond))
	if err := c.RemoveWait(ctx); err != nil {
		t.Errorf("RemoveWait of a missing cgroup: %v", err)
	}
}
