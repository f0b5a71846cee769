//go:build linux

package health

import (
	"fmt"
	"net/netip"
	"strings"
)

// syntheticNetTCP renders a /proc/net/tcp with n lines, every step-th of
// them in CLOSE_WAIT (cw of them in all).
func syntheticNetTCP(n, cw int) []byte {
	var b strings.Builder
	b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	step := n / max(cw, 1)
	for i := range n {
		st := "01"
		if cw > 0 && i%step == 0 && i/step < cw {
			st = "08"
		}
		fmt.Fprintf(&b, "%6d: 0100007F:%04X 0100007F:1F90 %s 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 20 4 30 10 -1\n",
			i, 1024+i%60000, st, 100000+i)
	}
	return []byte(b.String())
}

func sock(ino uint64, uid uint32, local, remote string) Socket {
	return Socket{Inode: ino, UID: uid, Tuple: Tuple{
		Local:  netip.MustParseAddrPort(local),
		Remote: netip.MustParseAddrPort(remote),
	}}
}
