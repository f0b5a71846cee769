//go:build linux

package health

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Who holds a CLOSE_WAIT socket that no cgroup id gave away is found in
// the fd tables of the targets (resolveOwners), and remembered between
// scans (ownerCache): a walk costs one readlink per fd, the cache nothing.

// negativeTTL is how many scans an inode stays "known not ours". The
// negative cache is what keeps a host where some other process holds
// persistent CLOSE_WAIT sockets from walking fd tables every tick; the TTL
// bounds the one blind spot: a socket that entered CLOSE_WAIT while still
// in a listener's accept queue has no fd yet, and is only accepted (and
// owned) later.
const negativeTTL = 60

// ownerCache maps socket inodes to the owned PID holding them, between
// scans.
type ownerCache struct {
	pos map[uint64]int    // inode -> owning pid
	neg map[uint64]uint64 // inode -> scan at which it was found not ours
	// owned and idless are the sorted owned pids the negative entries
	// hold for: of targets walked for any socket, and of CgroupOnly
	// targets, walked only for sockets without a cgroup id.
	owned, idless  []int
	spare, idSpare []int // the previous lists, reused by setOwned
}

func newOwnerCache() ownerCache {
	return ownerCache{pos: map[uint64]int{}, neg: map[uint64]uint64{}}
}

// setOwned records the owned PIDs of this scan: of targets walked for any
// socket, and of CgroupOnly ones (idless; see resolveOwners). When they
// change (a child restarted or forked and inherited fds, a target gained
// or lost CgroupOnly) inodes that were not ours may now be, so the
// negative entries are void; positive entries of PIDs no longer owned are
// dropped.
func (c *ownerCache) setOwned(walked, idless []int) {
	sorted := sortedSet(c.spare[:0], walked)
	id := sortedSet(c.idSpare[:0], idless)
	c.spare, c.idSpare = sorted, id
	if slices.Equal(sorted, c.owned) && slices.Equal(id, c.idless) {
		return
	}
	c.owned, c.spare = sorted, c.owned
	c.idless, c.idSpare = id, c.idless
	clear(c.neg)
	for ino, pid := range c.pos {
		_, ok := slices.BinarySearch(sorted, pid)
		_, idok := slices.BinarySearch(id, pid)
		if !ok && !idok {
			delete(c.pos, ino)
		}
	}
}

// sortedSet appends pids to dst sorted and without duplicates.
func sortedSet(dst, pids []int) []int {
	dst = append(dst, pids...)
	slices.Sort(dst)
	return slices.Compact(dst)
}

// known reports whether the owner of inode is decided as of scan.
func (c *ownerCache) known(inode, scan uint64) bool {
	if _, ok := c.pos[inode]; ok {
		return true
	}
	at, ok := c.neg[inode]
	return ok && scan-at < negativeTTL
}

// prune drops the inodes that are no longer in CLOSE_WAIT.
func (c *ownerCache) prune(live func(inode uint64) bool) {
	for ino := range c.pos {
		if !live(ino) {
			delete(c.pos, ino)
		}
	}
	for ino := range c.neg {
		if !live(ino) {
			delete(c.neg, ino)
		}
	}
}

// dropPIDs forgets the sockets owned by pids.
func (c *ownerCache) dropPIDs(pids []int) {
	for ino, pid := range c.pos {
		if slices.Contains(pids, pid) {
			delete(c.pos, ino)
		}
	}
}

// ownedPIDs returns the PIDs of every target the Scanner keeps state for
// that checks CLOSE_WAIT, as of each one's last scan: in idless those of
// CgroupOnly targets, walked only for sockets without a cgroup id, in
// walked the others.
func (s *Scanner) ownedPIDs() (walked, idless []int) {
	for _, ts := range s.targets {
		switch {
		case !ts.cw:
		case ts.cgroupOnly:
			idless = append(idless, ts.pids...)
		default:
			walked = append(walked, ts.pids...)
		}
	}
	return walked, idless
}

// resolveOwners walks the fd tables of the owned PIDs of g's namespace,
// once, when some candidate socket has no decided owner yet. Every target
// the Scanner knows in that namespace is walked, not only those of this
// scan: "no target holds it" is cached for all of them. CgroupOnly
// targets are walked only for a socket without a cgroup id (the reader
// gives none). The walk (one readlink per fd) is the one expensive part of
// a scan, so it stops as soon as every such socket is found, in the order
// walkOrder gives.
func (s *Scanner) resolveOwners(g *nsGroup) {
	scan := uint64(s.stats.Scans)
	want := map[uint64]struct{}{}
	uids := map[uint32]bool{}
	noID := false
	for _, k := range g.cands {
		if !s.owners.known(k.inode, scan) {
			want[k.inode] = struct{}{}
			uids[k.uid] = true
			noID = noID || k.cgroup == 0
		}
	}
	if len(want) == 0 {
		return
	}
	order := s.walkOrder(g.ns, uids, noID)
	if len(order) == 0 {
		for ino := range want {
			s.owners.neg[ino] = scan
		}
		return
	}
	live := s.nss[g.ns].since
	start, wanted := time.Now(), len(want)
	s.stats.FDWalks++
	tables, readlinks := 0, 0
	for _, w := range order {
		if len(want) == 0 {
			break
		}
		tables++
		n, err := socketInodes(s.procRoot, w.pid, s.dirBuf, func(ino uint64) bool {
			if _, ok := live[ino]; ok {
				// Any CLOSE_WAIT socket met on the way is cached, not only
				// the wanted ones: it may persist by the next scan.
				s.owners.pos[ino] = w.pid
				delete(want, ino)
			}
			return len(want) > 0
		})
		readlinks += n
		if err != nil {
			s.logOnce(w.target, "read fd table", w.pid, err)
		}
	}
	for ino := range want {
		s.owners.neg[ino] = scan
	}
	s.stats.FDTables += tables
	s.stats.Readlinks += readlinks
	s.log.Debug().Int("wanted", wanted).Int("not_found", len(want)).Int("fd_tables", tables).
		Int("readlinks", readlinks).Dur("took", time.Since(start)).Msg("owner walk")
}

// walkItem is one process of an owner walk, with what orders it.
type walkItem struct {
	pid    int
	target string // for error messages
	// otherUID: the process runs as none of the wanted sockets' uids.
	otherUID bool
	// holder: the process is known to hold a CLOSE_WAIT socket of the
	// namespace (the owner cache).
	holder bool
	fds    int // open fds; math.MaxInt when they cannot be counted
}

// walkOrder lists the PIDs in namespace ns of the targets that check
// CLOSE_WAIT, once each, in the order the owner walk reads them: the
// processes most likely to hold the wanted sockets for the fewest
// readlinks first (compareWalk). CgroupOnly targets are listed only with
// idless (some wanted socket has no cgroup id). It costs one stat of
// /proc/<pid>/fd per process (fdStat), against one readlink per fd for the
// walk itself.
func (s *Scanner) walkOrder(ns uint64, uids map[uint32]bool, idless bool) []walkItem {
	holders := make(map[int]bool, len(s.owners.pos))
	for _, pid := range s.owners.pos {
		holders[pid] = true
	}
	names := make([]string, 0, len(s.targets))
	for name, ts := range s.targets {
		if ts.cw && (!ts.cgroupOnly || idless) {
			names = append(names, name)
		}
	}
	slices.Sort(names) // a PID listed by several targets is named by the first
	var items []walkItem
	listed := map[int]bool{}
	for _, name := range names {
		ts := s.targets[name]
		for j, pid := range ts.pids {
			if listed[pid] || j >= len(ts.nsOf) || ts.nsOf[j] != ns {
				continue
			}
			listed[pid] = true
			it := walkItem{pid: pid, target: name, holder: holders[pid], otherUID: true, fds: math.MaxInt}
			if uid, n, err := fdStat(s.procRoot, pid, s.dirBuf); err == nil {
				it.otherUID, it.fds = !uids[uid], n
			}
			items = append(items, it)
		}
	}
	slices.SortFunc(items, compareWalk)
	return items
}

// compareWalk orders an owner walk. Reading a process that does not hold
// the sockets costs one readlink per fd it has, so the walk goes by the
// evidence that a process holds them, then by cost:
//
//  1. Processes running as the uid of a wanted socket: the kernel records
//     the creator's uid in the socket, so the owner is almost always among
//     them.
//  2. Processes already known to hold a CLOSE_WAIT socket of the namespace
//     (the owner cache): a process that leaks keeps leaking, so the new
//     sockets are most likely its own. This is free, and it is what makes
//     every walk after the first one short.
//  3. Fewest fds first. Nothing cheaper than the walk itself tells which
//     process holds a socket (a count of the socket links would need the
//     readlinks; "socket:[N]" also names the unix sockets that nearly every
//     daemon holds, so even that would say little), and a leak is one
//     program's bug, no more likely in a process with many fds than in one
//     with few: at equal odds, the cheapest process to rule out comes
//     first. A leaker is caught at its first persistent sockets, long
//     before they make its table large. The price is paid when the owner
//     is the process with the most fds: then every other table is read
//     first (bench/results.md shows both cases).
//  4. PID, so that the order never depends on map iteration.
func compareWalk(a, b walkItem) int {
	return cmp.Or(
		compareBool(a.otherUID, b.otherUID),
		compareBool(!a.holder, !b.holder),
		cmp.Compare(a.fds, b.fds),
		cmp.Compare(a.pid, b.pid),
	)
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
