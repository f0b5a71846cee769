//go:build linux

package supervisor

import "strconv"

// State is where a child is in its life cycle.
type State int

// Child states. A child starts in Stopped.
const (
	// Stopped: not running and not scheduled to run (before the first
	// start, or after an explicit stop).
	Stopped State = iota
	// Starting: the process was started and has not yet stayed up for
	// start_seconds; an exit now is a failed start.
	Starting
	// Running: the process has stayed up for start_seconds.
	Running
	// Backoff: the process died and a restart is scheduled after a delay.
	Backoff
	// Stopping: resreap is sending the stop signals and waiting for exit.
	Stopping
	// Exited: the process ended and the restart policy says not to restart.
	Exited
	// Fatal: too many failed starts within start_limit.interval; nothing
	// restarts the child until an operator starts it or a reload changes it.
	Fatal
)

var stateNames = [...]string{"Stopped", "Starting", "Running", "Backoff", "Stopping", "Exited", "Fatal"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "State(?)"
	}
	return stateNames[s]
}

// plural is "1 process", "2 processes", "0 processes": n with the word
// that fits it, for the texts of the log, the history and the errors.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
