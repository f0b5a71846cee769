//go:build linux

package health

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"

	"github.com/prometheus/procfs"
)

// Descendants returns pid followed by all its descendants, parents before
// children. It follows /proc/<pid>/task/<tid>/children, which lists the
// children of each thread (CONFIG_PROC_CHILDREN); when the kernel lacks
// that file it falls back to the parent PIDs of every /proc/<n>/stat. A
// process that exits during the walk is simply missing from the result.
func Descendants(procRoot string, pid int) []int {
	if procRoot == "" {
		procRoot = "/proc"
	}
	out := []int{pid}
	seen := map[int]bool{pid: true}
	for i := 0; i < len(out); i++ {
		kids, err := taskChildren(procRoot, out[i])
		if errors.Is(err, errNoChildrenFile) {
			return descendantsByStat(procRoot, pid)
		}
		for _, k := range kids {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

var errNoChildrenFile = errors.New("no /proc/<pid>/task/<tid>/children")

func taskChildren(procRoot string, pid int) ([]int, error) {
	base := procRoot + "/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(base)
	if err != nil {
		return nil, nil // gone
	}
	var kids []int
	for _, t := range tasks {
		data, err := os.ReadFile(base + "/" + t.Name() + "/children")
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(base + "/" + t.Name()); serr == nil {
				return nil, errNoChildrenFile
			}
			continue // thread exited
		}
		kids = appendInts(kids, data)
	}
	return kids, nil
}

func appendInts(dst []int, data []byte) []int {
	for _, f := range bytes.Fields(data) {
		if n, err := strconv.Atoi(string(f)); err == nil {
			dst = append(dst, n)
		}
	}
	return dst
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
