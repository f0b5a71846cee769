//go:build linux

package cgroup

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SocketIDs reports whether the cgroup id the kernel reports with each
// socket (INET_DIAG_CGROUP_ID, a Group's ID) names the cgroup of the
// socket's creator on this host; why says why not.
//
// Before Linux 5.15 a socket kept its cgroup v2 pointer and its cgroup v1
// net_cls classid or net_prio index in one field: once a net_cls or
// net_prio hierarchy is in use, new sockets keep the latter, and every one
// of them reports the root cgroup's id. A v1 hierarchy with either
// controller mounted on such a kernel is taken as that case. Before 5.7
// no id is reported at all, which the socket reader sees by itself.
func SocketIDs() (ok bool, why string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false, fmt.Sprintf("uname: %v", err)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err.Error()
	}
	defer f.Close()
	return socketIDs(unix.ByteSliceToString(u.Release[:]), f)
}

func socketIDs(release string, mountinfo io.Reader) (bool, string) {
	major, minor, ok := kernelVersion(release)
	if !ok {
		return false, fmt.Sprintf("cannot read the kernel version in %q", release)
	}
	if major > 5 || major == 5 && minor >= 15 {
		return true, ""
	}
	why := ""
	err := eachMount(mountinfo, func(m mountFields) bool {
		if m.fstype != "cgroup" {
			return true
		}
		for _, opt := range strings.Split(m.superOpts, ",") {
			if opt == "net_cls" || opt == "net_prio" {
				why = fmt.Sprintf("Linux %s (before 5.15) with a cgroup v1 %s hierarchy at %s reports every socket with the root cgroup's id",
					release, opt, m.point)
				return false
			}
		}
		return true
	})
	if err != nil {
		return false, fmt.Sprintf("mountinfo: %v", err)
	}
	return why == "", why
}

// kernelVersion reads major and minor from a release such as
// "5.10.0-21-amd64" or "6.18.44-fc".
func kernelVersion(release string) (major, minor int, ok bool) {
	a, rest, _ := strings.Cut(release, ".")
	b, _, _ := strings.Cut(rest, ".")
	b = strings.TrimRightFunc(b, func(r rune) bool { return r < '0' || r > '9' })
	var err1, err2 error
	major, err1 = strconv.Atoi(a)
	minor, err2 = strconv.Atoi(b)
	return major, minor, err1 == nil && err2 == nil
}
