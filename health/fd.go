//go:build linux

package health

import "math"

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
