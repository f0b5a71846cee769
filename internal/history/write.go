//go:build linux

package history

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// writeOnce hands b to a single write(2). os.File.Write loops on short
// writes, and a second write after a partial one would put the rest of a
// line after whatever another appender wrote in between; one call keeps the
// line whole or leaves a fragment the Writer can cut off.
func writeOnce(f *os.File, b []byte) (n int, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	cerr := rc.Write(func(fd uintptr) bool {
		for {
			n, err = syscall.Write(int(fd), b)
			// Nothing was written on EINTR, so retrying is still one write.
			if err != syscall.EINTR {
				break
			}
		}
		if n < 0 {
			n = 0
		}
		return true
	})
	if cerr != nil {
		return 0, cerr
	}
	return n, err
}

// shortWriteCause explains a write(2) that took only part of a line,
// leaving left bytes: a full file system (the usual cause, which the
// kernel reports only at the next write) is ENOSPC, with the free space.
func shortWriteCause(f *os.File, left int) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err == nil && uint64(st.Bavail)*uint64(st.Bsize) < uint64(left) {
		return fmt.Errorf("%w (%d bytes free, %d more needed)", syscall.ENOSPC, uint64(st.Bavail)*uint64(st.Bsize), left)
	}
	return io.ErrShortWrite
}
