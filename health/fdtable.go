//go:build linux

package health

import (
	"bytes"
	"cmp"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdCount returns the number of open fds of pid. Since Linux 6.2 the size
// of /proc/<pid>/fd is that number, one stat instead of reading a
// directory of up to a million entries; older kernels report 0 and the
// entries are counted.
func fdCount(procRoot string, pid int, buf []byte) (int, error) {
	_, n, err := fdStat(procRoot, pid, buf)
	return n, err
}

// fdStat returns the effective uid of pid and its number of open fds, from
// one stat of /proc/<pid>/fd (see fdCount). procfs gives every file of
// /proc/<pid> the owner of the process (root when it is not dumpable), so
// the owner of that directory is the owner of /proc/<pid>.
func fdStat(procRoot string, pid int, buf []byte) (uid uint32, fds int, err error) {
	dir := fdDir(procRoot, pid)
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, 0, err
	}
	if st.Size > 0 {
		return st.Uid, int(st.Size), nil
	}
	n := 0
	err = readDirNames(dir, buf, func([]byte) bool { n++; return true })
	return st.Uid, n, err
}

// fdLimit returns the soft RLIMIT_NOFILE of pid; 0 means unlimited. It is
// read each scan because a process (or prlimit) may change it at any time:
// with prlimit(2), one syscall, where allowed (the caller has
// CAP_SYS_RESOURCE or runs as the process's user), else from
// /proc/<pid>/limits read into buf (see parseNofileLimit), as always for
// a procRoot other than /proc.
func fdLimit(procRoot string, pid int, buf []byte) (uint64, error) {
	if procRoot == "/proc" {
		var r unix.Rlimit
		if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &r); err == nil {
			if r.Cur == unix.RLIM_INFINITY {
				return 0, nil
			}
			return r.Cur, nil
		}
	}
	n, err := readFile(procRoot+"/"+strconv.Itoa(pid)+"/limits", buf)
	if err != nil {
		return 0, err
	}
	return parseNofileLimit(buf[:n])
}

// readFile reads the file at path into buf and returns its length; a file
// longer than buf is cut short. Unlike os.ReadFile it makes no os.File
// (whose poller registration costs two more syscalls on a /proc file) and
// no buffer: open, read to the end, close.
func readFile(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
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

// readDirNames calls fn with each entry name of dir except "." and "..",
// using buf for getdents so a large fd table costs no allocation per
// entry. The name slice is only valid during the call. fn returns false to
// stop early.
func readDirNames(dir string, buf []byte, fn func(name []byte) bool) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return readDirFD(fd, buf, fn)
}

// readDirFD is readDirNames on an open directory.
func readDirFD(fd int, buf []byte, fn func(name []byte) bool) error {
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
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			d := (*unix.Dirent)(unsafe.Pointer(&b[0]))
			rec := int(d.Reclen)
			if rec == 0 || rec > len(b) {
				break
			}
			name := b[19:rec]
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

// fdLinks calls fn with the name (the fd number) and the link target of
// every entry of the open fd directory dfd, and returns how many links it
// read. The directory is read into buf and each target into link, with
// no allocation per fd: a target longer than link comes cut to its
// length (readlink(2) says nothing of it). An fd closed between the listing and its readlink is skipped.
// Both slices are only valid during the call; fn returns false to stop.
func fdLinks(dfd int, buf, link []byte, fn func(name, target []byte) bool) (readlinks int, err error) {
	err = readDirFD(dfd, buf, func(name []byte) bool {
		readlinks++
		n, err := unix.Readlinkat(dfd, string(name), link)
		if err != nil {
			return true // fd closed meanwhile
		}
		return fn(name, link[:n])
	})
	return readlinks, err
}

// fdDir is the fd directory of pid: /proc/<pid>/fd.
func fdDir(procRoot string, pid int) string {
	return procRoot + "/" + strconv.Itoa(pid) + "/fd"
}

// FD is one open file descriptor of a process.
type FD struct {
	Num int // the descriptor's number
	// Target is what /proc/<pid>/fd/<Num> links to: a path, or
	// "socket:[12345]", "pipe:[678]", "anon_inode:[eventfd]".
	Target string
}

// Socket returns the sockfs inode of the socket fd is (what Socket.Inode
// holds), and whether it is a socket at all.
func (fd FD) Socket() (inode uint64, ok bool) {
	return parseSocketLink([]byte(fd.Target))
}

// ListFDs lists the open fds of pid with their targets, in fd order, as
// ls -l /proc/<pid>/fd shows them; procRoot "" means /proc. It reads the
// same links as the CLOSE_WAIT check's owner walk (fdwalk.go), listed
// with getdents; an fd closed during the walk is missing from the list.
// The error names the directory, as an os.ReadDir of it would.
func ListFDs(procRoot string, pid int) ([]FD, error) {
	if procRoot == "" {
		procRoot = "/proc"
	}
	return listFDs(procRoot, pid, unix.PathMax)
}

// listFDs is ListFDs reading each target into linkSize bytes first.
func listFDs(procRoot string, pid, linkSize int) ([]FD, error) {
	dir := fdDir(procRoot, pid)
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	var fds []FD
	link := make([]byte, linkSize)
	_, err = fdLinks(dfd, make([]byte, 8<<10), link, func(name, target []byte) bool {
		n, err := strconv.Atoi(string(name))
		if err != nil {
			return true // not an fd
		}
		t := string(target)
		if len(target) == len(link) {
			// Maybe cut short: a page, which bounds the kernel's path,
			// may be larger than PathMax. os.Readlink grows its buffer.
			if t, err = os.Readlink(dir + "/" + string(name)); err != nil {
				return true // closed meanwhile
			}
		}
		fds = append(fds, FD{Num: n, Target: t})
		return true
	})
	if err != nil {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: err}
	}
	slices.SortFunc(fds, func(a, b FD) int { return cmp.Compare(a.Num, b.Num) })
	return fds, nil
}

// parseSocketLink decodes "socket:[12345]".
func parseSocketLink(b []byte) (uint64, bool) {
	const pre = "socket:["
	if len(b) < len(pre)+2 || string(b[:len(pre)]) != pre || b[len(b)-1] != ']' {
		return 0, false
	}
	ino, err := strconv.ParseUint(string(b[len(pre):len(b)-1]), 10, 64)
	return ino, err == nil
}
