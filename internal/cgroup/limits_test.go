//go:build linux

package cgroup

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestControllerErrors: the test cgroup enables nothing for its children,
// so a child has no memory.max nor pids.max, and the errors say which
// controller is missing where.
func TestControllerErrors(t *testing.T) {
	g := newTestGroup(t)
	c, _ := g.Child("c")
	if err := c.Create(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		controller string
		set        func() error
	}{
		{"memory", func() error { return c.SetMemoryMax(64 << 20) }},
		{"pids", func() error { return c.SetPidsMax(100) }},
	} {
		err := tc.set()
		if !errors.Is(err, ErrNoController) || !strings.HasPrefix(err.Error(), tc.controller+" controller not available in "+c.Dir()) {
			t.Errorf("set %s limit: %v; want an ErrNoController naming it", tc.controller, err)
		}
		t.Log(err)
	}
	have, err := g.Controllers()
	if err != nil {
		t.Fatal(err)
	}
	missing := "memory"
	if slices.Contains(have, missing) {
		missing = "no-such-controller"
	}
	err = g.EnableControllers(missing)
	if !errors.Is(err, ErrNoController) || !strings.Contains(err.Error(), missing+" controller") {
		t.Errorf("EnableControllers(%s): %v; want an ErrNoController naming it", missing, err)
	}
	t.Log(err)
}

// TestLimits sets limits where the host makes the memory or pids
// controller available to the test cgroup (a pure v2 host whose root or
// delegated cgroup enables them); a hybrid host has none to give.
func TestLimits(t *testing.T) {
	g := newTestGroup(t)
	have, err := g.Controllers()
	if err != nil {
		t.Fatal(err)
	}
	var use []string
	for _, c := range []string{"memory", "pids"} {
		if slices.Contains(have, c) {
			use = append(use, c)
		}
	}
	if len(use) == 0 {
		t.Skipf("no memory or pids controller available to %s (cgroup.controllers: %q)", g, have)
	}
	if err := g.EnableControllers(use...); err != nil {
		t.Fatal(err)
	}
	c, _ := g.Child("c")
	if err := c.Create(); err != nil {
		t.Fatal(err)
	}
	check := func(file, want string) {
		data, err := os.ReadFile(c.file(file))
		if err != nil || strings.TrimSpace(string(data)) != want {
			t.Errorf("%s = %q, %v; want %q", file, data, err, want)
		}
	}
	if slices.Contains(use, "memory") {
		if err := c.SetMemoryMax(64 << 20); err != nil {
			t.Fatal(err)
		}
		check("memory.max", "67108864")
		if err := c.SetMemoryMax(-1); err != nil {
			t.Fatal(err)
		}
		check("memory.max", "max")
	}
	if slices.Contains(use, "pids") {
		if err := c.SetPidsMax(100); err != nil {
			t.Fatal(err)
		}
		check("pids.max", "100")
	}
}
