//go:build linux

package proc

import (
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// ProcInfo names a process for a record: what an exited process left in
// its cgroup, what a previous resreap left.
type ProcInfo struct {
	PID     int
	Command string    // its command line, or "[comm]" for a kernel thread or a zombie
	Started time.Time // zero when unknown
}

// Describe names the processes pids, read from /proc now; a process gone
// meanwhile is left out. It reads two small files per process.
func Describe(pids []int) []ProcInfo {
	if len(pids) == 0 {
		return nil
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil
	}
	var boot time.Time
	if st, err := fs.Stat(); err == nil {
		boot = time.Unix(int64(st.BootTime), 0)
	}
	var out []ProcInfo
	for _, pid := range pids {
		p, err := fs.Proc(pid)
		if err != nil {
			continue
		}
		info := ProcInfo{PID: pid}
		if args, err := p.CmdLine(); err == nil && len(args) > 0 {
			info.Command = strings.Join(args, " ")
		} else if comm, err := p.Comm(); err == nil {
			info.Command = "[" + comm + "]"
		} else {
			continue // gone
		}
		if st, err := p.Stat(); err == nil && !boot.IsZero() {
			// USER_HZ is 100 on every Linux architecture in use.
			info.Started = boot.Add(time.Duration(st.Starttime) * time.Second / 100)
		}
		out = append(out, info)
	}
	return out
}
