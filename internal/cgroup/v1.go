//go:build linux

package cgroup

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// V1Mounts returns where each controller bound to a cgroup v1 hierarchy
// is mounted, by controller ("memory" -> "/sys/fs/cgroup/memory"), as the
// calling process's mount namespace shows them. On a hybrid host (the
// Debian and Ubuntu default before cgroup v2 only) those controllers are
// missing from the cgroup2 hierarchy, which the supervisor owns children
// in: their figures and limits are not to be had there, and this says
// why. A pure v2 host has none.
func V1Mounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := parseV1Mounts(f)
	if err != nil {
		return nil, fmt.Errorf("/proc/self/mountinfo: %w", err)
	}
	return m, nil
}

// parseV1Mounts reads the controllers of the "cgroup" (v1) mounts of a
// mountinfo listing from their super options ("rw,cpu,cpuacct"): every
// option but rw, ro and those with a value (name=systemd) or known to be
// no controller. The first mount of a controller is kept.
func parseV1Mounts(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	err := eachMount(r, func(f mountFields) bool {
		if f.fstype != "cgroup" {
			return true
		}
		for _, opt := range strings.Split(f.superOpts, ",") {
			switch {
			case opt == "rw", opt == "ro", strings.Contains(opt, "="), notController[opt]:
			default:
				if _, ok := out[opt]; !ok {
					out[opt] = f.point
				}
			}
		}
		return true
	})
	return out, err
}

// notController are the v1 mount options that name no controller.
var notController = map[string]bool{
	"noprefix": true, "clone_children": true, "xattr": true, "cpuset_v2_mode": true, "none": true,
}
