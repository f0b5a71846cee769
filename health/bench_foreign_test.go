//go:build linux

package health

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkScanForeignLeak measures the scan of targets none of which
// holds the CLOSE_WAIT sockets of the host: another program leaks n
// sockets (a dump replayed, so the kernel's walk is left out). "walk":
// 10 targets without a cgroup, whose fd tables are walked once and the
// answer cached; "cgroup": 50 targets in cgroups of their own, as the
// supervisor's children are, which no such socket concerns.
func BenchmarkScanForeignLeak(b *testing.B) {
	for _, mode := range []string{"walk", "cgroup"} {
		for _, n := range []int{0, 1000, 10000} {
			socks := make([]Socket, n)
			for i := range socks {
				socks[i] = Socket{Inode: uint64(1e6 + i), UID: 999, CgroupID: 4242, Tuple: Tuple{
					Local:  netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i%60000)),
					Remote: netip.MustParseAddrPort("10.0.0.2:5432")}}
			}
			s, err := NewScanner(ScannerOptions{SocketReader: &frozenReader{socks: socks}})
			if err != nil {
				b.Fatal(err)
			}
			var tg []Target
			for i := range map[string]int{"walk": 10, "cgroup": 50}[mode] {
				pid := startSleeper(b)
				t := target(fmt.Sprintf("t%d", i), pid)
				t.Interval = time.Nanosecond
				if mode == "cgroup" {
					dir := b.TempDir() // a cgroup.procs of its own is all the scan reads
					if err := os.WriteFile(dir+"/cgroup.procs", []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
						b.Fatal(err)
					}
					t.Cgroup, t.CgroupDir, t.CgroupOnly = uint64(100+i), dir, true
				}
				tg = append(tg, t)
			}
			s.Scan(tg)
			s.Scan(tg)
			b.Run(fmt.Sprintf("%s/sockets=%d", mode, n), func(b *testing.B) {
				b.ReportAllocs()
				scanCost(b, s, func() { s.Scan(tg) })
			})
		}
	}
}
