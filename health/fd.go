//go:build linux

package health

import (
	"math"

	"github.com/prometheus/procfs"
)

// fdLimit returns the soft RLIMIT_NOFILE of pid from /proc/<pid>/limits;
// 0 means unlimited. It is read each scan because a process (or prlimit)
// may change it at any time.
func fdLimit(fs procfs.FS, pid int) (uint64, error) {
	p, err := fs.Proc(pid)
	if err != nil {
		return 0, err
	}
	l, err := p.Limits()
	if err != nil {
		return 0, err
	}
	if l.OpenFiles == math.MaxUint64 {
		return 0, nil
	}
	return l.OpenFiles, nil
}

// overFDLimit reports whether open fds breach the policy for a process
// whose soft limit is limit (0 = unlimited, so only MaxOpen applies).
func overFDLimit(p FDPolicy, open int, limit uint64) bool {
	if p.MaxOpen > 0 && open >= p.MaxOpen {
		return true
	}
	return p.MaxRatio > 0 && limit > 0 && float64(open) >= p.MaxRatio*float64(limit)
}

// fdRatio orders processes by how close they are to their limit; a process
// without a limit ranks by its count alone, below any limited one.
func fdRatio(open int, limit uint64) float64 {
	if limit == 0 {
		return float64(open) / math.MaxUint32
	}
	return float64(open) / float64(limit)
}
