//go:build linux

package harness

import (
	"fmt"
	"strings"
)

func (r *Report) writeWalks(p func(string, ...any)) {
	if len(r.Walks) == 0 {
		return
	}
	w0 := r.Walks[0]
	p("## Owner walk: who holds the CLOSE_WAIT sockets\n\n")
	p("%s sockets, %d of them in CLOSE_WAIT, held either by a small process of their own or by "+
		"the load's first worker, the process with the most fds. Once a socket has persisted "+
		"(the second scan), resreap reads fd tables, one readlink per fd, until it has found "+
		"the owner of every persistent socket: same uid as the socket first, then processes "+
		"already known to hold a CLOSE_WAIT socket, then fewest fds first "+
		"(`health/owners.go`, `compareWalk`), the top of every table before the rest of any. `resreap watch --once` without `-f` judges every "+
		"process on the host; `-f HOLDER` is `-f '%s'`, which selects the holder alone. `ss -tnp` reads every fd of every "+
		"process whatever holds what. %d rounds.\n\n", sizeLabel(w0.Scan.Target), r.Config.CloseWait, HolderPattern, w0.Scan.Rounds)
	p("| CLOSE_WAIT held by | command | readlinks | fd tables read | CPU median | × floor |\n")
	p("|---|---|---:|---:|---:|---:|\n")
	for _, w := range r.Walks {
		who := fmt.Sprintf("%s (%d fds; largest other worker %d)", w.Holder.Name, w.HolderFDs, w.LargestFDs)
		for _, tr := range w.Scan.Tools {
			rl, tables := "", ""
			switch {
			case tr.Walk != nil:
				rl, tables = fmt.Sprint(tr.Walk.Readlinks), fmt.Sprint(tr.Walk.FDTables)
			case tr.WalkErr != "":
				rl = "n/a"
			case strings.HasPrefix(tr.Tool.Name, "ss -tnp"):
				rl = fmt.Sprintf("every fd: %d", w.HostFDs)
			}
			if tr.Err != "" {
				p("| %s | `%s` | | | n/a | |\n", who, tr.Tool.Name)
				continue
			}
			p("| %s | `%s` | %s | %s | %s | ×%.1f |\n", who, tr.Tool.Name, rl, tables, ms(tr.MedianCPU()), tr.MedianRatio())
			who = ""
		}
	}
	p("\nThe host had %d processes holding %d fds in all during the first case. "+
		"CPU is the whole command (two snapshots, start-up); readlinks are those of its one "+
		"owner walk, counted by resreap in a separate run.\n\n", w0.Processes, w0.HostFDs)
	for _, w := range r.Walks {
		p("**CLOSE_WAIT held by %s**: the table held %d TCP sockets, %d in CLOSE_WAIT.\n\n",
			w.Holder.Name, w.Scan.Sockets, w.Scan.CloseWait)
		writeDetail(p, w.Scan)
	}
}
