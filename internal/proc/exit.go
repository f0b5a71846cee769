//go:build linux

package proc

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/signame"
)

// ExitStatus is how a process ended, as collected by the Reaper.
type ExitStatus struct {
	PID    int
	Status unix.WaitStatus
	At     time.Time // when resreap reaped it
	// Left names the other processes of its cgroup when it exited (its
	// workers, a daemon it forked), read before the Reaper killed its
	// process group: those killed with it. Nil for a process without a
	// cgroup (a process group cannot be listed without a walk of /proc).
	Left []ProcInfo
}

// Code returns the exit code and true if the process exited normally.
func (e ExitStatus) Code() (int, bool) {
	if e.Status.Exited() {
		return e.Status.ExitStatus(), true
	}
	return 0, false
}

// ShellCode is the exit code as a shell reports it: the code, or 128
// plus the number of the signal that killed the process.
func (e ExitStatus) ShellCode() int {
	if sig, ok := e.Signal(); ok {
		return 128 + int(sig)
	}
	code, _ := e.Code()
	return code
}

// Signal returns the signal that killed the process, if one did.
func (e ExitStatus) Signal() (unix.Signal, bool) {
	if e.Status.Signaled() {
		return e.Status.Signal(), true
	}
	return 0, false
}

// SignalOrCode is the exit as a record holds it: the name of the signal
// that ended the process, or else its exit code.
func (e ExitStatus) SignalOrCode() (signal string, code *int) {
	if sig, ok := e.Signal(); ok {
		return signame.Name(sig), nil
	}
	if c, ok := e.Code(); ok {
		return "", &c
	}
	return "", nil
}

// Failed reports whether the exit counts as a failure for the on-failure
// restart policy: a non-zero exit code or death by a signal.
func (e ExitStatus) Failed() bool {
	code, ok := e.Code()
	return !ok || code != 0
}

// String is how the process ended, as a log line says it: "exit 3",
// "signal TERM".
func (e ExitStatus) String() string {
	if sig, ok := e.Signal(); ok {
		return "signal " + signame.Name(sig)
	}
	code, _ := e.Code()
	return fmt.Sprintf("exit %d", code)
}
