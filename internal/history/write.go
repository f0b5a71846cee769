//go:build linux

package history

import (
	"os"
	"syscall"
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
