//go:build linux

package watch

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/resreap/resreap/internal/procfile"
)

// procStat is what the watch needs of a process's /proc/<pid>/stat.
type procStat struct {
	Comm  string // command name, without the parentheses
	State byte   // R, S, D, Z, ...
	PPID  int
	Start uint64 // start time in clock ticks since boot: with the PID, names one process for good
}

// procFiles reads what the watch needs of a process (stat, cmdline,
// cgroup) from procRoot, with raw system calls into one buffer reused
// from read to read (procfile): the watch reads every process at every
// tick. It is used by one goroutine at a time.
type procFiles struct {
	root string
	buf  []byte // grows to the longest command line read
}

// newProcFiles reads from root with a buffer of size bytes to begin with.
func newProcFiles(root string, size int) *procFiles {
	return &procFiles{root: root, buf: make([]byte, size)}
}

// read returns the file name of pid, valid until the next read. A file
// that fills the buffer is read again into one twice as large: a command
// line may run to the kernel's limit on arguments.
func (r *procFiles) read(pid int, name string) ([]byte, error) {
	path := r.root + "/" + strconv.Itoa(pid) + "/" + name
	for {
		n, err := procfile.Read(path, r.buf)
		if err != nil {
			return nil, err
		}
		if n < len(r.buf) {
			return r.buf[:n], nil
		}
		r.buf = make([]byte, 2*len(r.buf))
	}
}

// stat reads /proc/<pid>/stat.
func (r *procFiles) stat(pid int) (procStat, error) {
	b, err := r.read(pid, "stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// cmdline returns the command line of pid as ps shows it, arguments
// joined by spaces (valid until the next read); empty for a kernel thread
// or a zombie.
func (r *procFiles) cmdline(pid int) ([]byte, error) {
	b, err := r.read(pid, "cmdline")
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\x00")
	for i, c := range b {
		if c == 0 {
			b[i] = ' '
		}
	}
	return b, nil
}

var errStat = errors.New("malformed /proc/<pid>/stat")

// parseStat reads the fields the watch needs of a /proc/<pid>/stat line:
// "pid (comm) state ppid ... starttime ...". The command name may hold
// spaces and parentheses: it runs from the first '(' to the last ')', and
// the fields are counted after it (proc_pid_stat(5)).
func parseStat(b []byte) (procStat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, errStat
	}
	st := procStat{Comm: string(b[open+1 : end])}
	// After ") ": state (field 3), ppid (4), ... starttime (22).
	field := 3
	for rest := b[end+1:]; len(rest) > 0 && field <= 22; field++ {
		rest = bytes.TrimLeft(rest, " ")
		f := rest
		if i := bytes.IndexByte(rest, ' '); i >= 0 {
			f, rest = rest[:i], rest[i:]
		} else {
			rest = nil
		}
		var err error
		switch field {
		case 3:
			if len(f) > 0 {
				st.State = f[0]
			}
		case 4:
			st.PPID, err = strconv.Atoi(string(f))
		case 22:
			st.Start, err = strconv.ParseUint(string(bytes.TrimSpace(f)), 10, 64)
			if err == nil {
				return st, nil
			}
		}
		if err != nil {
			return procStat{}, errStat
		}
	}
	return procStat{}, errStat
}
