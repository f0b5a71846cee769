//go:build linux

package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/resreap/resreap/internal/procfile"
)

// writeFile writes value to a cgroup interface file in one write(2). The
// file is opened without O_CREATE: a missing interface file means a missing
// controller or an old kernel, never something to create. The kernel
// reports a rejected value (EBUSY, EINVAL, ...) from the write itself, so
// the write error is returned as is (an *os.PathError naming the file).
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// parseKeyValues parses a flat-keyed cgroup file ("key value" per line) as
// cgroup.events and cpu.stat are.
func parseKeyValues(data []byte) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed line %q: %w", line, err)
		}
		out[f[0]] = v
	}
	return out, sc.Err()
}

// parsePIDs parses cgroup.procs: one decimal PID per line.
func parsePIDs(data []byte) ([]int, error) {
	var pids []int
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		pid, err := strconv.Atoi(line)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("malformed PID %q", line)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// smallFile bounds the files readFile reads in one go: cgroup.events,
// cgroup.stat, cgroup.freeze, a /proc/<pid>/cgroup, a cgroup.procs of a
// few processes.
const smallFile = 1024

// readFile is os.ReadFile of a small cgroup or /proc file, without an
// os.File and its growing buffer (procfile): a stop of 500 children
// reads four such files per signal and per wait, and os.ReadFile was a
// third of its CPU. A file that fills the buffer is read again with
// os.ReadFile. Errors are *os.PathError, as os.ReadFile's.
func readFile(path string) ([]byte, error) {
	var buf [smallFile]byte
	n, err := procfile.Read(path, buf[:])
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if n == len(buf) {
		return os.ReadFile(path)
	}
	return append([]byte(nil), buf[:n]...), nil
}

// readKeyValues reads and parses a flat-keyed file, naming it in errors.
func readKeyValues(path string) (map[string]uint64, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	kv, err := parseKeyValues(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kv, nil
}
