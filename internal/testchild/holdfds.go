//go:build linux

package testchild

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// HoldFDsEnv, set to N in a helper's environment, makes the test binary
// hold N more fds before it becomes the helper: init opens /dev/null N
// times without close-on-exec and execs the binary again without the
// variable, so the helper's mode (say "leak") runs with a large fd table.
// The "fds" mode holds fds but leaks nothing.
const HoldFDsEnv = "RESREAP_TEST_HOLD_FDS"

func init() {
	n, _ := strconv.Atoi(os.Getenv(HoldFDsEnv))
	if n <= 0 {
		return
	}
	if err := holdFDsAndExec(n); err != nil {
		fmt.Fprintln(os.Stderr, "hold fds:", err)
		os.Exit(3)
	}
}

// holdFDsAndExec dups /dev/null n times (dup leaves close-on-exec off)
// and execs /proc/self/exe with the same arguments, without HoldFDsEnv.
func holdFDsAndExec(n int) error {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	for range n - 1 {
		if _, err := unix.Dup(fd); err != nil {
			return err
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, HoldFDsEnv+"=") })
	return unix.Exec("/proc/self/exe", os.Args, env)
}
