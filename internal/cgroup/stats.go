//go:build linux

package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// Stats is a snapshot of a cgroup's resource usage, its descendants
// included. The CPU times come from cpu.stat, which every non-root cgroup2
// cgroup has (the cpu controller is not needed for them). The memory
// figure exists only when that controller is enabled for the cgroup (see
// Controllers); otherwise it is zero and HasMemory false. The tasks come
// from pids.current, or where the pids controller is not enabled (a
// hybrid host binds it to cgroup v1) from cgroup.threads, which every
// cgroup has: the same tasks, counted by resreap. The zero Stats is "no
// usage, nothing known about memory or tasks".
type Stats struct {
	// CPUUsage is the CPU time used (usage_usec); CPUUser and CPUSystem
	// split it into user and kernel time.
	CPUUsage, CPUUser, CPUSystem time.Duration
	// MemoryCurrent is memory.current in bytes, when HasMemory.
	MemoryCurrent uint64
	HasMemory     bool
	// PidsCurrent is pids.current (tasks, threads included), when HasPids;
	// PidsCounted says it was counted from cgroup.threads instead.
	PidsCurrent uint64
	HasPids     bool
	PidsCounted bool
}

// Stats reads cpu.stat, memory.current and pids.current.
func (g Group) Stats() (Stats, error) {
	if err := g.valid(); err != nil {
		return Stats{}, err
	}
	data, err := os.ReadFile(g.file("cpu.stat"))
	if err != nil {
		return Stats{}, fmt.Errorf("cgroup stats: %w", err)
	}
	st, err := parseCPUStat(data)
	if err != nil {
		return Stats{}, fmt.Errorf("cgroup stats: %s: %w", g.file("cpu.stat"), err)
	}
	if st.MemoryCurrent, st.HasMemory, err = readUint(g.file("memory.current")); err != nil {
		return Stats{}, fmt.Errorf("cgroup stats: %w", err)
	}
	if st.PidsCurrent, st.HasPids, err = readUint(g.file("pids.current")); err != nil {
		return Stats{}, fmt.Errorf("cgroup stats: %w", err)
	}
	if !st.HasPids {
		if n, err := g.countThreads(); err == nil {
			st.PidsCurrent, st.HasPids, st.PidsCounted = n, true, true
		}
	}
	return st, nil
}

// countThreads counts the threads listed in cgroup.threads of the cgroup
// and its descendants (cgroups removed during the walk held none).
func (g Group) countThreads() (uint64, error) {
	var n uint64
	err := g.eachTreeFile("cgroup.threads", func(path string) error {
		data, err := os.ReadFile(path)
		n += uint64(bytes.Count(data, []byte{'\n'}))
		return err
	})
	return n, err
}

// parseCPUStat reads the three times every cpu.stat has; the lines the
// cpu controller adds (nr_periods, throttled_usec, ...) are ignored.
func parseCPUStat(data []byte) (Stats, error) {
	kv, err := parseKeyValues(data)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	for _, f := range []struct {
		key string
		dst *time.Duration
	}{{"usage_usec", &st.CPUUsage}, {"user_usec", &st.CPUUser}, {"system_usec", &st.CPUSystem}} {
		v, ok := kv[f.key]
		if !ok {
			return Stats{}, fmt.Errorf("no %s", f.key)
		}
		*f.dst = time.Duration(v) * time.Microsecond
	}
	return st, nil
}

// readUint reads a one-number file; a missing file is (0, false, nil).
func readUint(path string) (uint64, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", path, err)
	}
	return v, true, nil
}
