//go:build linux

// Package cgrouptest gives tests a writable cgroup2 hierarchy and empty
// cgroups of their own, removed at cleanup. It is test support: only
// _test.go files import it.
package cgrouptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/testchild"
)

// Need returns the writable cgroup2 hierarchy, or skips the test without
// one (fails it in CI, see testchild.Need).
func Need(tb testing.TB) cgroup.Hierarchy {
	tb.Helper()
	h, err := cgroup.Detect()
	if err == nil {
		err = h.NotWritable
	}
	testchild.Need(tb, fmt.Sprintf("a writable cgroup2 hierarchy (%v)", err), err == nil)
	return h
}

// New creates an empty cgroup "resreap-test-<pid>-<random>" below the test
// process's own, as Need requires. At cleanup, after the helpers started
// later are gone, it kills what is left, waits for it to empty and removes
// it; a cgroup left behind fails the test.
func New(tb testing.TB) cgroup.Group {
	tb.Helper()
	own, err := Need(tb).OwnGroup()
	if err != nil {
		tb.Fatal(err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	g, err := own.Child(fmt.Sprintf("resreap-test-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:])))
	if err != nil {
		tb.Fatal(err)
	}
	if err := g.Create(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := g.Kill(); err != nil {
			tb.Errorf("cleanup: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testchild.Timeout)
		defer cancel()
		if err := g.WaitEmpty(ctx); err != nil {
			tb.Errorf("cleanup: test cgroup %s not empty: %v", g, err)
		}
		if err := g.Remove(); err != nil {
			tb.Errorf("cleanup: leftover test cgroup: %v", err)
		}
	})
	return g
}
