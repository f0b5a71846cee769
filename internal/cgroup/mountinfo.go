//go:build linux

package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// mountEntry is the cgroup2 mount found in a mountinfo file.
type mountEntry struct {
	point string // where the hierarchy is mounted, unescaped
	root  string // the hierarchy path shown at point, unescaped ("/" unless bind-mounted or namespaced)
}

// readMount finds the cgroup2 mount in the mountinfo file at path.
func readMount(path string) (mountEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return mountEntry{}, err
	}
	defer f.Close()
	m, err := parseMountinfo(f)
	if err != nil {
		return mountEntry{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// parseMountinfo returns the first mount of filesystem type "cgroup2" in a
// /proc/<pid>/mountinfo listing (proc(5)):
//
//	40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
//	id par dev root mountpoint opts [optional...] - fstype source superopts
//
// The first is taken when there are several: the later ones are usually
// bind mounts of the same hierarchy (a container's view, say). None gives
// an error wrapping ErrNoHierarchy.
func parseMountinfo(r io.Reader) (mountEntry, error) {
	var m mountEntry
	err := eachMount(r, func(f mountFields) bool {
		if f.fstype == "cgroup2" {
			m = mountEntry{point: f.point, root: f.root}
			return false
		}
		return true
	})
	if err != nil {
		return mountEntry{}, err
	}
	if m.point == "" {
		return mountEntry{}, fmt.Errorf("no cgroup2 mount: %w", ErrNoHierarchy)
	}
	return m, nil
}

// mountFields are the fields of a mountinfo line that the package reads.
type mountFields struct {
	root, point string // unescaped
	fstype      string
	superOpts   string // comma-separated
}

// eachMount calls fn with each line of a mountinfo listing until it
// returns false; lines that are not mountinfo lines (the kernel never
// writes one) are skipped.
func eachMount(r io.Reader, fn func(mountFields) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(f) {
			continue
		}
		if !fn(mountFields{root: unescapeOctal(f[3]), point: unescapeOctal(f[4]), fstype: f[sep+1], superOpts: f[sep+3]}) {
			return nil
		}
	}
	return sc.Err()
}

// unescapeOctal undoes the kernel's mangling of paths in mountinfo, which
// writes space, tab, newline and backslash as \040, \011, \012 and \134.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
