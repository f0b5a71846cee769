//go:build linux

package supervisor

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// releaseStartupPages drops from resreap's page tables the pages of its
// own executable's code and read-only data, once the children have been
// started, and reports how many kB it dropped.
//
// Start-up runs code that never runs again: the package initialisers of
// client_golang, protobuf and the rest, the config parser and validator,
// the first start of every child. Each page of it that ran stays mapped,
// with its neighbours (the kernel maps up to 16 pages around a fault from
// the page cache): 10.5 MiB of a 16 MB binary were resident under 50 idle
// children, twice the anonymous memory, and the working set of the
// supervision that follows is about a tenth of it. Once dropped, the
// pages that run again come back at their first use, from the page cache
// (a minor fault); the others stay out of resreap's RSS and PSS.
//
// Only the mappings of the executable that are not writable are dropped:
// they hold the file's bytes, unchanged (no relocation writes them), so
// MADV_DONTNEED loses nothing. The writable data segment, whose pages the
// program changed, is never touched.
func releaseStartupPages() (kB int) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	for _, m := range readOnlyMappings(maps, exe) {
		// By address: these pages are no Go memory to make a slice of.
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
		if errno == 0 {
			kB += int(m.end-m.start) >> 10
		}
	}
	return kB
}

// mapping is one line of /proc/<pid>/maps: an address range.
type mapping struct{ start, end uintptr }

// readOnlyMappings returns the mappings of file in a /proc/<pid>/maps
// text that are private and not writable ("r-xp", "r--p").
func readOnlyMappings(maps []byte, file string) []mapping {
	var out []mapping
	for _, line := range bytes.Split(maps, []byte{'\n'}) {
		// start-end perms offset dev inode path
		f := bytes.Fields(line)
		if len(f) < 6 || string(bytes.Join(f[5:], []byte{' '})) != file {
			continue
		}
		perms := string(f[1])
		if len(perms) != 4 || perms[1] != '-' || perms[3] != 'p' {
			continue
		}
		a, b, ok := bytes.Cut(f[0], []byte{'-'})
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(a), 16, 64)
		end, err2 := strconv.ParseUint(string(b), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{uintptr(start), uintptr(end)})
	}
	return out
}
