package health

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
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

func descendantsByStat(procRoot string, pid int) []int {
	ents, _ := os.ReadDir(procRoot)
	kids := map[int][]int{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(procRoot + "/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if pp, ok := parseStatPPID(data); ok {
			kids[pp] = append(kids[pp], n)
		}
	}
	out := []int{pid}
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

// parseStatPPID reads the 4th field of /proc/<pid>/stat. The command name
// (2nd field) may hold spaces and parentheses, so fields are counted from
// the last ')'.
func parseStatPPID(data []byte) (int, bool) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(string(f[1]))
	return n, err == nil
}
