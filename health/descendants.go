//go:build linux

package health

import (
	"errors"
	"io/fs"
	"slices"
	"strconv"

	"github.com/prometheus/procfs"
	"github.com/resreap/resreap/internal/procfile"
	"golang.org/x/sys/unix"
)

// Descendants returns pid followed by all its descendants, parents before
// children, the children of each process in PID order. It follows
// /proc/<pid>/task/<tid>/children, which lists the children of each thread
// (CONFIG_PROC_CHILDREN); when the kernel lacks that file it falls back to
// the parent PIDs of every /proc/<n>/stat. A process that exits during the
// walk is simply missing from the result.
func Descendants(procRoot string, pid int) []int {
	if procRoot == "" {
		procRoot = "/proc"
	}
	return descendants(procRoot, pid, make([]byte, 4096), make([]byte, 4096))
}

// descendants is Descendants with the buffers of a Scanner: dirBuf for the
// task directories, fileBuf for the children files. The health loop walks
// every child's tree at every tick, so it reads with raw syscalls into
// those buffers and allocates only the result (os.ReadDir and os.ReadFile
// cost ~1 kB of garbage and 7 more syscalls per process).
func descendants(procRoot string, pid int, dirBuf, fileBuf []byte) []int {
	out := []int{pid}
	var seen map[int]bool // made when a first child shows up
	for i := 0; i < len(out); i++ {
		n := len(out)
		var err error
		out, err = appendTaskChildren(out, procRoot, out[i], dirBuf, fileBuf)
		if errors.Is(err, errNoChildrenFile) {
			return descendantsByStat(procRoot, pid)
		}
		kids := out[n:]
		slices.Sort(kids)
		out = out[:n] // kids are filtered in place: each write is at or before its read
		for _, k := range kids {
			if seen == nil {
				seen = map[int]bool{pid: true}
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

var errNoChildrenFile = errors.New("no /proc/<pid>/task/<tid>/children")

// appendTaskChildren appends the children of every thread of pid to dst.
// A process that is gone has none.
func appendTaskChildren(dst []int, procRoot string, pid int, dirBuf, fileBuf []byte) ([]int, error) {
	dfd, err := unix.Open(procRoot+"/"+strconv.Itoa(pid)+"/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dst, nil // gone
	}
	defer unix.Close(dfd)
	var missing error
	_ = procfile.DirFD(dfd, dirBuf, func(tid []byte) bool {
		fd, err := unix.Openat(dfd, string(tid)+"/children", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			var st unix.Stat_t
			if errors.Is(err, fs.ErrNotExist) && unix.Fstatat(dfd, string(tid), &st, 0) == nil {
				missing = errNoChildrenFile
				return false
			}
			return true // thread exited
		}
		dst = procfile.AppendInts(dst, fd, fileBuf)
		unix.Close(fd)
		return true
	})
	return dst, missing
}

// descendantsByStat finds the descendants from the parent PID of every
// process, read by procfs: one pass over /proc instead of one file per
// thread, for kernels without CONFIG_PROC_CHILDREN.
func descendantsByStat(procRoot string, pid int) []int {
	out := []int{pid}
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return out
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return out
	}
	kids := map[int][]int{}
	for _, p := range procs {
		if st, err := p.Stat(); err == nil {
			kids[st.PPID] = append(kids[st.PPID], p.PID)
		}
	}
	seen := map[int]bool{pid: true}
	for i := 0; i < len(out); i++ {
		for _, k := range kids[out[i]] {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}
