package watch

import (
	"bytes"
	"errors"
	"os"
	"strconv"
)

// procStat is what watch needs from /proc/<pid>/stat.
type procStat struct {
	Comm  string // field 2, without the parentheses
	State byte   // field 3: R, S, D, Z, ...
	PPID  int    // field 4
	Start uint64 // field 22: start time in clock ticks since boot
}

var errBadStat = errors.New("malformed /proc/<pid>/stat")

// parseStat decodes /proc/<pid>/stat. The command name may hold spaces and
// parentheses, so the fields after it are counted from the last ')'.
func parseStat(data []byte) (procStat, error) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return procStat{}, errBadStat
	}
	f := bytes.Fields(data[end+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 22-2 || len(f[0]) != 1 {
		return procStat{}, errBadStat
	}
	ppid, err := strconv.Atoi(string(f[4-3]))
	if err != nil {
		return procStat{}, errBadStat
	}
	start, err := strconv.ParseUint(string(f[22-3]), 10, 64)
	if err != nil {
		return procStat{}, errBadStat
	}
	return procStat{Comm: string(data[open+1 : end]), State: f[0][0], PPID: ppid, Start: start}, nil
}

// readStat reads and decodes /proc/<pid>/stat under procRoot.
func readStat(procRoot string, pid int) (procStat, error) {
	data, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(data)
}

// readCmdline returns /proc/<pid>/cmdline with the NUL separators turned
// into spaces, the way ps shows it; "" for a kernel thread or a zombie.
func readCmdline(procRoot string, pid int) (string, error) {
	data, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "", err
	}
	return cmdlineString(data), nil
}

func cmdlineString(data []byte) string {
	data = bytes.TrimRight(data, "\x00")
	return string(bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
}
