//go:build linux

package health

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
)

// nsGroup is the set of targets sharing one network namespace, read with
// one CloseWait call per scan.
type nsGroup struct {
	ns      uint64
	pid     int   // pid whose namespace is read; 0 = the supervisor's own
	members []int // indexes into the targets of the scan
	cands   []sockKey
	uids    map[uint64]uint32 // socket uid of each candidate, by inode
}

// groupByNetns groups targets by the inode of /proc/<pid>/ns/net. A target
// whose namespace cannot be read is assumed to share the supervisor's.
func (s *Scanner) groupByNetns(targets []Target, res []Result) []*nsGroup {
	var groups []*nsGroup
	byNS := map[uint64]*nsGroup{}
	for i, t := range targets {
		if len(res[i].PIDs) == 0 {
			continue
		}
		ns, pid := s.ownNS, 0
		if s.ownNS != 0 {
			n, err := netnsInode(s.procRoot, strconv.Itoa(t.PID))
			switch {
			case err != nil:
				s.logOnce(t.Name, "netns", t.PID, err)
			case n != s.ownNS:
				ns, pid = n, t.PID
			}
		}
		g := byNS[ns]
		if g == nil {
			g = &nsGroup{ns: ns, pid: pid}
			byNS[ns] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, i)
	}
	return groups
}

// scanCloseWait updates socket persistence and returns, per target, the
// persistent CLOSE_WAIT sockets it owns, sorted.
func (s *Scanner) scanCloseWait(targets []Target, pols []Policy, res []Result, groups []*nsGroup) [][]SocketSample {
	next := s.spare
	clear(next)
	seen := map[uint64]struct{}{}
	var owned []int
	for _, g := range groups {
		s.readGroup(g, targets, pols, next, seen)
		for _, i := range g.members {
			if !pols[i].CloseWait.Disabled {
				owned = append(owned, res[i].PIDs...)
			}
		}
	}
	s.spare, s.streak = s.streak, next
	s.owners.prune(seen)
	s.owners.setOwned(owned)

	out := make([][]SocketSample, len(targets))
	for _, g := range groups {
		if len(g.cands) == 0 {
			continue
		}
		s.resolveOwners(g, pols, res, seen)
		for _, i := range g.members {
			out[i] = s.persistentOf(g, pols[i].CloseWait, res[i].PIDs)
		}
	}
	return out
}

// readGroup reads the CLOSE_WAIT sockets of g's namespace into next,
// dropping ignored peers first, and collects the candidates: sockets seen
// often enough to be persistent for at least one member.
func (s *Scanner) readGroup(g *nsGroup, targets []Target, pols []Policy, next map[sockKey]int, seen map[uint64]struct{}) {
	minPersist := 0
	var ignores []IgnoreList
	for _, i := range g.members {
		cw := pols[i].CloseWait
		if cw.Disabled {
			continue
		}
		if minPersist == 0 || cw.Persist < minPersist {
			minPersist = cw.Persist
		}
		ignores = append(ignores, cw.Ignore)
	}
	if minPersist == 0 {
		return // no member checks CLOSE_WAIT
	}
	socks, err := s.reader.CloseWait(g.pid)
	if err != nil {
		t := targets[g.members[0]]
		s.logOnce(t.Name, "read sockets ("+s.reader.Name()+")", t.PID, err)
		return // no data: persistence restarts rather than guessing
	}
	for _, so := range socks {
		if ignoredByAll(ignores, so.Tuple.Remote) {
			continue
		}
		k := sockKey{ns: g.ns, inode: so.Inode, tuple: so.Tuple}
		n := s.streak[k] + 1
		next[k] = n
		seen[so.Inode] = struct{}{}
		if n >= minPersist {
			g.cands = append(g.cands, k)
			if g.uids == nil {
				g.uids = map[uint64]uint32{}
			}
			g.uids[so.Inode] = so.UID
		}
	}
}

func ignoredByAll(lists []IgnoreList, remote netip.AddrPort) bool {
	for _, l := range lists {
		if !l.Match(remote) {
			return false
		}
	}
	return true
}

// resolveOwners walks the fd tables of g's owned PIDs, once, when some
// candidate socket has no decided owner yet. The walk (one readlink per
// fd) is the one expensive part of a scan, so it stops as soon as every
// such socket is found, and it starts with the processes whose uid is the
// uid of one of those sockets: the kernel records the creator's uid in the
// socket, so the owner is almost always among them.
func (s *Scanner) resolveOwners(g *nsGroup, pols []Policy, res []Result, seen map[uint64]struct{}) {
	scan := uint64(s.stats.Scans)
	want := map[uint64]struct{}{}
	uids := map[uint32]bool{}
	for _, k := range g.cands {
		if !s.owners.known(k.inode, scan) {
			want[k.inode] = struct{}{}
			uids[g.uids[k.inode]] = true
		}
	}
	if len(want) == 0 {
		return
	}
	s.stats.FDWalks++
	for _, w := range s.walkOrder(g, pols, res, uids) {
		if len(want) == 0 {
			break
		}
		s.stats.FDTables++
		err := socketInodes(s.procRoot, w.pid, s.dirBuf, func(ino uint64) bool {
			if _, ok := seen[ino]; ok {
				// Any CLOSE_WAIT socket met on the way is cached, not only
				// the wanted ones: it may persist by the next scan.
				s.owners.pos[ino] = w.pid
				delete(want, ino)
			}
			return len(want) > 0
		})
		if err != nil {
			s.logOnce(res[w.target].Name, "read fd table", w.pid, err)
		}
	}
	for ino := range want {
		s.owners.neg[ino] = scan
	}
}

type walkItem struct {
	pid    int
	target int // index into res, for error messages
}

// walkOrder lists g's owned PIDs once each, those running as one of uids
// first.
func (s *Scanner) walkOrder(g *nsGroup, pols []Policy, res []Result, uids map[uint32]bool) []walkItem {
	var first, rest []walkItem
	listed := map[int]bool{}
	for _, i := range g.members {
		if pols[i].CloseWait.Disabled {
			continue
		}
		for _, pid := range res[i].PIDs {
			if listed[pid] {
				continue
			}
			listed[pid] = true
			if uid, err := procUID(s.procRoot, pid); err == nil && uids[uid] {
				first = append(first, walkItem{pid, i})
			} else {
				rest = append(rest, walkItem{pid, i})
			}
		}
	}
	return append(first, rest...)
}

// persistentOf returns the persistent sockets of g owned by pids.
func (s *Scanner) persistentOf(g *nsGroup, p CloseWaitPolicy, pids []int) []SocketSample {
	if p.Disabled {
		return nil
	}
	var out []SocketSample
	for _, k := range g.cands {
		if s.streak[k] < p.Persist || p.Ignore.Match(k.tuple.Remote) {
			continue
		}
		pid, ok := s.owners.pos[k.inode]
		if !ok || !slices.Contains(pids, pid) {
			continue
		}
		out = append(out, SocketSample{PID: pid, Inode: k.inode, Tuple: k.tuple})
	}
	slices.SortFunc(out, compareSamples)
	return out
}

func compareSamples(a, b SocketSample) int {
	return cmp.Or(
		a.Tuple.Remote.Compare(b.Tuple.Remote),
		a.Tuple.Local.Compare(b.Tuple.Local),
		cmp.Compare(a.PID, b.PID),
		cmp.Compare(a.Inode, b.Inode),
	)
}
