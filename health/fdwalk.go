//go:build linux

package health

import (
	"strconv"
	"unsafe"

	"github.com/resreap/resreap/internal/procfile"
	"golang.org/x/sys/unix"
)

// The owner walk reads an fd table in two parts, the top first: the fds
// numbered from some start up, listed with getdents from that point, then
// the numbers below start, probed one readlinkat each with no listing.
//
// The top first, because a leak grows a table at its top: the kernel
// gives a new fd the lowest free number, and a leaked fd is never freed,
// so the fds a leaking process opened last, its newest sockets among
// them, hold its highest numbers. Reading the top of every table before
// the rest of any finds a leaker's sockets after a few hundred readlinks
// even when it holds the most fds of all (compareWalk then reads it
// last).
//
// The rest by number, because listing /proc/<pid>/fd costs the kernel
// about a third of a readlink per entry (it makes a dentry for each),
// and a readlinkat of a number not open costs less than a listed entry:
// an fd table is dense (lowest free number again), so nearly every probe
// hits. The offset of a /proc/<pid>/fd directory is the fd number plus 2
// (after "." and ".."), which is what lets getdents start at the top.

// fdLinkMax bounds the link targets the walk reads: "socket:[N]" is under
// 30 bytes, and a longer target, cut short, is no socket anyway.
const fdLinkMax = 64

// fdWalker reads fd tables for the owner walk into buffers of its own,
// so that a walk allocates nothing per fd.
type fdWalker struct {
	procRoot string
	dents    []byte // getdents of the top
	link     [fdLinkMax]byte
	name     [24]byte // a decimal fd number and its NUL
}

// openFDs opens the fd directory of pid.
func (w *fdWalker) openFDs(pid int) (int, error) {
	return unix.Open(fdDir(w.procRoot, pid), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// top calls fn with the inode of every socket among the fds of the open
// fd directory dfd numbered start or more, in fd order. It returns the
// readlinks it made and whether fn stopped it (returned false).
func (w *fdWalker) top(dfd, start int, fn func(inode uint64) bool) (readlinks int, stopped bool, err error) {
	if _, err := unix.Seek(dfd, int64(start)+2, 0); err != nil {
		return 0, false, err
	}
	err = procfile.DirFD(dfd, w.dents, func(name []byte) bool {
		if len(name) >= len(w.name) {
			return true // not an fd number
		}
		readlinks++
		if ino, ok := w.socketAt(dfd, name); ok && !fn(ino) {
			stopped = true
			return false
		}
		return true
	})
	return readlinks, stopped, err
}

// below calls fn with the inode of every socket among the fds of dfd
// numbered under end, probing each number with one readlinkat (a number
// not open fails, and is skipped). It returns the readlinks it made and
// whether fn stopped it.
func (w *fdWalker) below(dfd, end int, fn func(inode uint64) bool) (readlinks int, stopped bool) {
	var num []byte
	for fd := 0; fd < end; fd++ {
		num = strconv.AppendInt(w.name[:0], int64(fd), 10)
		readlinks++
		if ino, ok := w.socketAt(dfd, num); ok && !fn(ino) {
			return readlinks, true
		}
	}
	return readlinks, false
}

// socketAt reads the link of the fd named name (a decimal number) in dfd
// and returns the socket inode it names, if it is a socket.
func (w *fdWalker) socketAt(dfd int, name []byte) (uint64, bool) {
	if &name[0] != &w.name[0] {
		name = append(w.name[:0], name...)
	}
	w.name[len(name)] = 0
	n, err := readlinkat(dfd, &w.name[0], w.link[:])
	if err != nil {
		return 0, false // not open, or closed meanwhile
	}
	return parseSocketLink(w.link[:n])
}

// readlinkat is readlinkat(2) of a NUL-terminated name: unix.Readlinkat
// copies its string argument to the heap at every call, which a walk of
// 100k fds would pay 100k times.
func readlinkat(dfd int, name *byte, buf []byte) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dfd), uintptr(unsafe.Pointer(name)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
