//go:build linux

package watch

import (
	"strings"

	"github.com/prometheus/procfs"
)

// procStat is what the watch needs of a process's /proc/<pid>/stat.
type procStat struct {
	Comm  string // command name, without the parentheses
	State byte   // R, S, D, Z, ...
	PPID  int
	Start uint64 // start time in clock ticks since boot: with the PID, names one process for good
}

// readStat reads /proc/<pid>/stat through procfs, which parses the command
// name safely (it may hold spaces and parentheses).
func readStat(fs procfs.FS, pid int) (procStat, error) {
	p, err := fs.Proc(pid)
	if err != nil {
		return procStat{}, err
	}
	st, err := p.Stat()
	if err != nil {
		return procStat{}, err
	}
	var state byte
	if st.State != "" {
		state = st.State[0]
	}
	return procStat{Comm: st.Comm, State: state, PPID: st.PPID, Start: st.Starttime}, nil
}

// readCmdline returns the command line of pid as ps shows it, arguments
// joined by spaces; "" for a kernel thread or a zombie.
func readCmdline(fs procfs.FS, pid int) (string, error) {
	p, err := fs.Proc(pid)
	if err != nil {
		return "", err
	}
	args, err := p.CmdLine()
	if err != nil {
		return "", err
	}
	return strings.Join(args, " "), nil
}
