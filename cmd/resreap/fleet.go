//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// fleetProgram is the program that talks to a fleet's etcd; resreap
// links no etcd client (see internal/fleet/link).
const fleetProgram = "resreap-fleet"

// runFleet runs `resreap fleet status|restart|cancel ...` through
// resreap-fleet, found beside resreap's binary or in PATH. It talks to
// etcd directly, with the config's [fleet], rather than through the
// control socket: it works from any host that has the config, with or
// without a running resreap, and an order lives in etcd, not in one
// resreap.
func runFleet(args []string, stdout, stderr io.Writer) int {
	prog, err := fleetBinary()
	if err != nil {
		fmt.Fprintln(stderr, "resreap fleet:", err)
		return 1
	}
	if len(args) == 0 {
		args = []string{"help"}
	}
	cmd := exec.Command(prog, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		fmt.Fprintln(stderr, "resreap fleet:", err)
		return 1
	}
	return 0
}

// fleetBinary finds resreap-fleet: beside resreap, else in PATH.
func fleetBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), fleetProgram)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath(fleetProgram)
	if err != nil {
		return "", fmt.Errorf("%s is neither beside resreap nor in PATH (make build installs both): %w", fleetProgram, err)
	}
	return p, nil
}
