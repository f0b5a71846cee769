//go:build linux

package health

import (
	"cmp"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"github.com/resreap/resreap/internal/procfile"
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
	err = procfile.DirNames(dir, buf, func([]byte) bool { n++; return true })
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
	n, err := procfile.Read(procRoot+"/"+strconv.Itoa(pid)+"/limits", buf)
	if err != nil {
		return 0, err
	}
	return parseNofileLimit(buf[:n])
}

// fdLinks calls fn with the name (the fd number) and the link target of
// every entry of the open fd directory dfd, and returns how many links it
// read. The directory is read into buf and each target into link, with
// no allocation per fd: a target longer than link comes cut to its
// length (readlink(2) says nothing of it). An fd closed between the listing and its readlink is skipped.
// Both slices are only valid during the call; fn returns false to stop.
func fdLinks(dfd int, buf, link []byte, fn func(name, target []byte) bool) (readlinks int, err error) {
	err = procfile.DirFD(dfd, buf, func(name []byte) bool {
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
