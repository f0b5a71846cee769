//go:build linux

package testchild

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// MaxInotifyInstances is where the kernel keeps the per-user limit of
// inotify instances (128 by default).
const MaxInotifyInstances = "/proc/sys/fs/inotify/max_user_instances"

// UseUpInotify opens inotify instances until the kernel refuses one with
// EMFILE because the test's user holds fs.inotify.max_user_instances of
// them, as on a busy host where other programs took them all. It returns
// how many it opened, and release, which gives them back; cleanup calls
// it too, and the kernel closes them if the test process dies.
//
// While they are held, no process of the test's user on this machine can
// make an inotify instance: keep the window short. The limit is not
// lowered instead, so nothing needs restoring if the test is killed.
func UseUpInotify(tb testing.TB) (n int, release func()) {
	tb.Helper()
	NeedRoot(tb) // the limit is per user: root's, as resreap runs
	data, err := os.ReadFile(MaxInotifyInstances)
	if err != nil {
		tb.Fatal(err)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		tb.Fatalf("%s: %v", MaxInotifyInstances, err)
	}
	var fds []int
	release = sync.OnceFunc(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	tb.Cleanup(release)
	for {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if errors.Is(err, unix.EMFILE) {
			break
		}
		if err != nil {
			release()
			tb.Fatalf("inotify_init1 after %d instances: %v", len(fds), err)
		}
		fds = append(fds, fd)
		if len(fds) > limit {
			release()
			tb.Fatalf("opened %d inotify instances, more than %s (%d)", len(fds), MaxInotifyInstances, limit)
		}
	}
	// EMFILE is also the process's own RLIMIT_NOFILE: make sure it was the
	// per-user limit that refused, not that one.
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && uint64(len(fds))+64 >= rl.Cur {
		release()
		tb.Fatalf("EMFILE after %d inotify instances: RLIMIT_NOFILE (%d), not %s", len(fds), rl.Cur, MaxInotifyInstances)
	}
	return len(fds), release
}
