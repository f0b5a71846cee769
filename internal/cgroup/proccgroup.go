//go:build linux

package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ProcCgroup returns the cgroup2 path of process pid, as the "0::" line of
// /proc/<pid>/cgroup names it: "/" for the root, "/a/b" below it, relative
// to the caller's cgroup namespace. A process whose cgroup was removed
// after it became a zombie shows with a " (deleted)" suffix, kept as is.
// Lines of cgroup v1 hierarchies are ignored; a missing "0::" line gives an
// error wrapping ErrNoHierarchy.
func ProcCgroup(pid int) (string, error) {
	return readProcCgroup("/proc/" + strconv.Itoa(pid) + "/cgroup")
}

// selfCgroup is ProcCgroup for the calling process.
func selfCgroup() (string, error) { return readProcCgroup("/proc/self/cgroup") }

func readProcCgroup(path string) (string, error) {
	data, err := readFile(path)
	if err != nil {
		return "", err
	}
	p, err := parseProcCgroup(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParseProcCgroup is ProcCgroup on the contents of a /proc/<pid>/cgroup
// file its caller read: the watchdog reads one per candidate at every
// tick, into a buffer it reuses.
func ParseProcCgroup(data []byte) (string, error) { return parseProcCgroup(data) }

// parseProcCgroup finds the cgroup2 line ("0::/path") of a /proc/<pid>/cgroup
// file (cgroups(7)); v1 lines ("4:memory:/x", "9:name=systemd:/") are
// skipped. The kernel writes the path unescaped, so everything after the
// second colon is the path, spaces and colons included.
func parseProcCgroup(data []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			if !strings.HasPrefix(p, "/") {
				return "", fmt.Errorf("malformed cgroup2 line %q", sc.Text())
			}
			return p, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no cgroup2 (\"0::\") line: %w", ErrNoHierarchy)
}
