//go:build linux

// Package procfile reads the small files and directories of /proc and of
// the cgroup hierarchy with raw system calls into the caller's buffers.
//
// os.Open makes an os.File, which registers the descriptor with the Go
// runtime's poller (an fcntl and an epoll_ctl, both failing on a /proc
// file) and goes to the heap; os.ReadFile and os.ReadDir add a buffer and
// an entry per name. A reader of every process at every tick (the health
// scan's process trees and fd counts, the watchdog's candidates) pays
// that thousands of times a second: here it is open, read into the
// caller's buffer, close, and nothing allocated but the NUL-terminated
// copy of the path that open(2) takes.
//
//	buf := make([]byte, 4096)
//	n, err := procfile.Read("/proc/1/stat", buf)
package procfile

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Read reads the file at path into buf and returns its length; a file
// longer than buf is cut short.
func Read(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return ReadFD(fd, buf)
}

// ReadFD reads the open file fd into buf, from where it stands to its end
// or to the end of buf, and returns the length read.
func ReadFD(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if k == 0 {
			break
		}
		n += k
	}
	return n, nil
}

// DirNames calls fn with each entry name of dir except "." and "..",
// using buf for getdents, so a large directory costs no allocation per
// entry. The name slice is only valid during the call. fn returns false
// to stop early.
func DirNames(dir string, buf []byte, fn func(name []byte) bool) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return DirFD(fd, buf, fn)
}

// DirFD is DirNames on an open directory, from where it stands.
func DirFD(fd int, buf []byte, fn func(name []byte) bool) error {
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for b := buf[:n]; len(b) >= direntName; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8,
			// name. Read in place: a *unix.Dirent (280 bytes) over the last
			// entries of buf would reach past its end.
			rec := int(binary.NativeEndian.Uint16(b[16:]))
			if rec < direntName || rec > len(b) {
				break
			}
			name := b[direntName:rec]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[rec:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			if !fn(name) {
				return nil
			}
		}
	}
}

// direntName is the offset of the name in a struct linux_dirent64.
const direntName = 19

// AppendInts appends the decimal numbers separated by anything else (a
// cgroup.procs, a children file) that fd reads, read through buf (a
// number may straddle two reads).
func AppendInts(dst []int, fd int, buf []byte) []int {
	n, digits := 0, false
	for {
		k, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || k <= 0 {
			break
		}
		for _, c := range buf[:k] {
			if c >= '0' && c <= '9' {
				n, digits = n*10+int(c-'0'), true
				continue
			}
			if digits {
				dst = append(dst, n)
			}
			n, digits = 0, false
		}
	}
	if digits {
		dst = append(dst, n)
	}
	return dst
}

// Atoi parses a decimal number of ASCII digits, as /proc names processes;
// ok is false for anything else (an empty name, a sign, a letter).
func Atoi(b []byte) (n int, ok bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
