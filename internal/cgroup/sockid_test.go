//go:build linux

package cgroup

import (
	"strings"
	"testing"
)

func TestSocketIDs(t *testing.T) {
	const (
		v2only = "40 30 0:37 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
		hybrid = "30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n" +
			"35 25 0:31 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n"
		hybridNoNet = "30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n" +
			"36 25 0:32 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory\n"
	)
	for _, tc := range []struct {
		release, mounts string
		want            bool
	}{
		{"6.18.44-fc-v782", hybrid, true},
		{"5.15.0-91-generic", hybrid, true},
		{"5.10.0-21-amd64", hybrid, false},
		{"5.10.0-21-amd64", v2only, true},
		{"5.10.0-21-amd64", hybridNoNet, true},
		{"4.18.0-513.el8.x86_64", hybrid, false},
		{"garbage", v2only, false},
	} {
		ok, why := socketIDs(tc.release, strings.NewReader(tc.mounts))
		if ok != tc.want || ok != (why == "") {
			t.Errorf("%s, %q: %v %q, want %v", tc.release, tc.mounts, ok, why, tc.want)
		}
	}
	// This host: the supervisor's tests rely on the ids.
	if ok, why := SocketIDs(); !ok {
		t.Logf("socket cgroup ids not usable here: %s", why)
	}
}
