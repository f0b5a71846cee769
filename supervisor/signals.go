package supervisor

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/supervisor/control"
)

// ParseSignal reads a signal name such as "TERM", "SIGTERM" or "term" (the
// names the control socket accepts too), or, in a config file, a number
// such as "15".
func ParseSignal(name string) (unix.Signal, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(name)); err == nil {
		if unix.SignalName(unix.Signal(n)) == "" {
			return 0, fmt.Errorf("unknown signal %q", name)
		}
		return unix.Signal(n), nil
	}
	return control.ParseSignal(name)
}

// SignalName returns the short name of a signal ("TERM" for SIGTERM), as
// the history and the reports write it.
func SignalName(sig unix.Signal) string { return control.SignalName(sig) }
