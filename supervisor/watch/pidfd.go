//go:build linux

package watch

import (
	"time"

	"golang.org/x/sys/unix"
)

// pidfdOpen returns a pidfd for pid (Linux 5.3+), close-on-exec.
func pidfdOpen(pid int) (int, error) {
	return unix.PidfdOpen(pid, 0)
}

// pidfdSignal sends sig to the process of the pidfd (Linux 5.1+). It fails
// with ESRCH once that process has exited, whoever holds its PID now.
func pidfdSignal(fd int, sig unix.Signal) error {
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}

// pidfdExited waits up to d for the pidfd to become readable, which the
// kernel signals when the process exits (zombies included).
func pidfdExited(fd int, d time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	ms := int(d.Milliseconds())
	for {
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue // the Go runtime's preemption signals interrupt poll
		}
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
	}
}
