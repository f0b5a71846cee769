package supervisor

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
}

// Code returns the exit code and true if the process exited normally.
func (e ExitStatus) Code() (int, bool) {
	if e.Status.Exited() {
		return e.Status.ExitStatus(), true
	}
	return 0, false
}

// Signal returns the signal that killed the process, if one did.
func (e ExitStatus) Signal() (unix.Signal, bool) {
	if e.Status.Signaled() {
		return e.Status.Signal(), true
	}
	return 0, false
}

// Failed reports whether the exit counts as a failure for the on-failure
// restart policy: a non-zero exit code or death by a signal.
func (e ExitStatus) Failed() bool {
	code, ok := e.Code()
	return !ok || code != 0
}

func (e ExitStatus) String() string {
	if sig, ok := e.Signal(); ok {
		return "signal " + signame.Name(sig)
	}
	code, _ := e.Code()
	return fmt.Sprintf("exit %d", code)
}
