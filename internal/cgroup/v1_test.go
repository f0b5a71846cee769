//go:build linux

package cgroup

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The v1 controllers of a hybrid host are found with their mounts; a
// pure v2 host has none.
func TestParseV1Mounts(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[string]string
	}{
		{"systemd-hybrid.txt", map[string]string{"memory": "/sys/fs/cgroup/memory"}},
		{"pure-v2.txt", map[string]string{}},
	} {
		f, err := os.Open(filepath.Join("testdata", "mountinfo", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseV1Mounts(f)
		f.Close()
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.file, got, err, tc.want)
		}
	}
	line := "40 33 0:35 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:19 - cgroup cgroup rw,cpu,cpuacct\n" +
		"41 33 0:36 / /sys/fs/cgroup/pids rw,relatime shared:20 - cgroup cgroup rw,clone_children,pids\n"
	got, err := parseV1Mounts(strings.NewReader(line))
	want := map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "pids": "/sys/fs/cgroup/pids"}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("%v %v, want %v", got, err, want)
	}
}
