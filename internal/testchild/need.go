//go:build linux

package testchild

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where the machine is
// known to be root with ss, IPv6 loopback and a writable cgroup2
// hierarchy.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need marks a test that needs something of the machine: when have is
// false the test fails in CI, where a missing requirement means a broken
// setup that must not pass silently, and is skipped elsewhere.
func Need(tb testing.TB, what string, have bool) {
	tb.Helper()
	if have {
		return
	}
	if InCI() {
		tb.Fatalf("this test needs %s, which CI must provide", what)
	}
	tb.Skipf("needs %s", what)
}

// NeedRoot is Need for root privileges.
func NeedRoot(tb testing.TB) {
	tb.Helper()
	Need(tb, "root", os.Geteuid() == 0)
}

// NeedCommand is Need for a program in PATH, and returns its path.
func NeedCommand(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	Need(tb, name+" in PATH", err == nil)
	return p
}
