//go:build linux

package health

import (
	"cmp"
	"math"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Who holds a CLOSE_WAIT socket that no cgroup id gave away is found in
// the fd tables of the targets (resolveOwners), and remembered between
// scans (ownerCache): a walk costs one readlink per fd, the cache nothing.

// negativeTTL is how many scans a walk of a process stays good for "it
// holds none of these sockets" (see ownerCache.marks). It bounds the blind
// spots of that rule: a socket that entered CLOSE_WAIT while still in a
// listener's accept queue has no fd yet, and is only accepted (and owned)
// later; a process may take in a socket and close another fd at once,
// and then holds it with as many fds as before.
const negativeTTL = 60

// ownerCache remembers, between scans, who holds which CLOSE_WAIT socket
// and which processes hold none.
type ownerCache struct {
	pos map[uint64]int // inode -> owning pid
	// marks holds, for each owned pid whose fd table a walk read whole,
	// the scan of that walk and the fds the process had then. The walk
	// met every socket the process held, and took note of each one in
	// CLOSE_WAIT (pos): so the process holds no socket that was in
	// CLOSE_WAIT at that scan and is not in pos, unless it has taken one
	// in since, which opens an fd. While its fd count has not risen, and
	// for negativeTTL scans, its table need not be read again for those
	// sockets. A mark is per process: a process that starts, or forks
	// and inherits fds, has none and is read; one that exits takes its
	// mark along (keep). A socket newer in CLOSE_WAIT than a process's
	// mark may have been in its table, not yet in CLOSE_WAIT, at the
	// walk: it is looked for there again.
	marks map[int]walkMark
	spare []int // the owned pids of the last keep, reused
}

// walkMark is one whole read of a process's fd table (ownerCache.marks).
type walkMark struct {
	scan uint64 // Stats.Scans at the walk
	fds  int    // open fds when the walk began
}

func newOwnerCache() ownerCache {
	return ownerCache{pos: map[uint64]int{}, marks: map[int]walkMark{}}
}

// keep forgets the owners and marks of every PID but the owned ones of
// this scan: a PID no target has any more is gone, or no longer ours.
func (c *ownerCache) keep(owned []int) {
	sorted := sortedSet(c.spare[:0], owned)
	c.spare = sorted
	has := func(pid int) bool { _, ok := slices.BinarySearch(sorted, pid); return ok }
	for ino, pid := range c.pos {
		if !has(pid) {
			delete(c.pos, ino)
		}
	}
	for pid := range c.marks {
		if !has(pid) {
			delete(c.marks, pid)
		}
	}
}

// sortedSet appends pids to dst sorted and without duplicates.
func sortedSet(dst, pids []int) []int {
	dst = append(dst, pids...)
	slices.Sort(dst)
	return slices.Compact(dst)
}

// cleared reports whether the mark of a process that holds fds fds now
// still says it holds no socket that has been in CLOSE_WAIT since scan
// since, at scan now (see ownerCache.marks).
func (m walkMark) cleared(since, now uint64, fds int) bool {
	return m.scan >= since && now-m.scan < negativeTTL && fds <= m.fds
}

// prune drops the inodes that are no longer in CLOSE_WAIT.
func (c *ownerCache) prune(live func(inode uint64) bool) {
	for ino := range c.pos {
		if !live(ino) {
			delete(c.pos, ino)
		}
	}
}

// dropPIDs forgets the sockets owned by pids, and their marks.
func (c *ownerCache) dropPIDs(pids []int) {
	for ino, pid := range c.pos {
		if slices.Contains(pids, pid) {
			delete(c.pos, ino)
		}
	}
	for _, pid := range pids {
		delete(c.marks, pid)
	}
}

// ownedPIDs returns the PIDs of every target the Scanner keeps state for
// that checks CLOSE_WAIT, as of each one's last scan.
func (s *Scanner) ownedPIDs() []int {
	var pids []int
	for _, ts := range s.targets {
		if ts.cw {
			pids = append(pids, ts.pids...)
		}
	}
	return pids
}

// wanted is what an owner walk looks for: the candidate sockets of a
// namespace with no known owner, by inode, and what the walk order needs
// of them.
type wanted struct {
	inodes map[uint64]*cand
	uids   map[uint32]bool
	// idless: some socket has no cgroup id (the reader gives none), so
	// CgroupOnly targets may hold it. last and lastIdless are the latest
	// scan at which one of the sockets (of those without an id) came into
	// CLOSE_WAIT: a process whose mark is older may hold one.
	idless           bool
	last, lastIdless uint64
}

// resolveOwners walks the fd tables of the owned PIDs of g's namespace
// when some candidate socket has no known owner. Every target the Scanner
// knows in that namespace may be read, not only those of this scan, except
// the targets of decided (a verdict their cgroup's sockets decide alone):
// the walk reads only the processes whose mark does not clear them already
// (ownerCache.marks). CgroupOnly targets are read only for a socket
// without a cgroup id (the reader gives none). The walk (one readlink per
// fd) is the one expensive part of a scan, so it stops as soon as every
// such socket is found, in the order walkOrder gives: the top of every
// table first, then the rest of each (fdwalk.go).
func (s *Scanner) resolveOwners(g *nsGroup, decided map[string]bool) {
	scan := uint64(s.stats.Scans)
	w := wanted{inodes: map[uint64]*cand{}, uids: map[uint32]bool{}}
	for i := range g.cands {
		k := &g.cands[i]
		if _, ok := s.owners.pos[k.inode]; ok {
			continue
		}
		w.inodes[k.inode] = k
		w.uids[k.uid] = true
		w.last = max(w.last, k.first)
		if k.cgroup == 0 {
			w.idless = true
			w.lastIdless = max(w.lastIdless, k.first)
		}
	}
	if len(w.inodes) == 0 {
		return
	}
	order := s.walkOrder(g.ns, &w, decided, scan)
	if len(order) == 0 {
		return // every process that may hold them is cleared by its mark
	}
	start, nwanted := time.Now(), len(w.inodes)
	s.stats.FDWalks++
	o := ownerWalk{s: s, scan: scan, live: s.nss[g.ns].since, want: w.inodes}
	o.walk(order)
	s.stats.FDTables += o.tables
	s.stats.Readlinks += o.readlinks
	s.log.Debug().Int("wanted", nwanted).Int("not_found", len(w.inodes)).Int("fd_tables", o.tables).
		Int("readlinks", o.readlinks).Dur("took", time.Since(start)).Msg("owner walk")
}

// topFDs is how many fds of each table the first part of a walk reads
// beyond the number of sockets wanted.
const topFDs = 64

// ownerWalk is one owner walk under way.
type ownerWalk struct {
	s    *Scanner
	scan uint64
	live map[uint64]seen  // the namespace's CLOSE_WAIT sockets
	want map[uint64]*cand // the wanted sockets not found yet

	tables, readlinks int
}

// walk reads the tables of order: the tops, in order, then the rest of
// each, until every wanted socket is found. A table it read whole gets a
// mark (ownerCache.marks). A table is never left half read for a target
// whose verdict is already reached: its evidence counts and lists every
// persistent socket it holds (how far the leak went), and a socket of
// its left unread would have the tables of everyone else read for it.
func (o *ownerWalk) walk(order []walkItem) {
	// A leaker's newest sockets are all within its top even with a few
	// other fds opened among them.
	top := topFDs + len(o.want)
	for phase := range 2 {
		for i := range order {
			it := &order[i]
			switch {
			case len(o.want) == 0:
				return
			case phase == 1 && it.from == 0:
				continue // read whole already, or gone
			}
			dfd, err := o.s.walker.openFDs(it.pid)
			if err != nil {
				o.s.logOnce(it.target, "read fd table", it.pid, err)
				it.from = 0
				continue
			}
			var n int
			var stopped bool
			if phase == 0 {
				o.tables++
				it.from = 0 // a table that cannot be counted is read whole
				if it.fds != math.MaxInt {
					it.from = max(0, it.fds-top)
				}
				n, stopped, err = o.s.walker.top(dfd, it.from, o.take(it.pid))
			} else {
				n, stopped = o.s.walker.below(dfd, it.from, o.take(it.pid))
			}
			unix.Close(dfd)
			o.readlinks += n
			switch {
			case err != nil:
				o.s.logOnce(it.target, "read fd table", it.pid, err)
				it.from = 0
			case !stopped && (phase == 1 || it.from == 0) && it.fds != math.MaxInt:
				o.s.owners.marks[it.pid] = walkMark{scan: o.scan, fds: it.fds}
			}
		}
	}
}

// take returns what the walk does with each socket inode met in pid's
// table: a socket in CLOSE_WAIT is pid's from now on, the wanted ones
// among them found. Any CLOSE_WAIT socket is cached, not only the wanted
// ones: it may persist by the next scan. It says to read on while some
// socket is wanted.
func (o *ownerWalk) take(pid int) func(inode uint64) bool {
	return func(ino uint64) bool {
		if _, ok := o.live[ino]; ok {
			o.s.owners.pos[ino] = pid
			delete(o.want, ino)
		}
		return len(o.want) > 0
	}
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
	// from is where the first part of the walk began in the table: the
	// second part reads the fds numbered below it. 0 once the table is
	// read whole, or cannot be read.
	from int
}

// walkOrder lists the PIDs in namespace ns of the targets that check
// CLOSE_WAIT, but those of decided, once each, in the order the owner
// walk reads them: the processes most likely to hold the wanted sockets
// for the fewest readlinks first (compareWalk). CgroupOnly targets are
// listed only when some wanted socket has no cgroup id. A process whose
// mark clears it of every wanted socket it may hold is left out. It costs
// one stat of /proc/<pid>/fd per process (fdStat), against one readlink
// per fd for the walk itself.
func (s *Scanner) walkOrder(ns uint64, w *wanted, decided map[string]bool, scan uint64) []walkItem {
	holders := make(map[int]bool, len(s.owners.pos))
	for _, pid := range s.owners.pos {
		holders[pid] = true
	}
	names := make([]string, 0, len(s.targets))
	for name, ts := range s.targets {
		if ts.cw && (!ts.cgroupOnly || w.idless) && !decided[name] {
			names = append(names, name)
		}
	}
	slices.Sort(names) // a PID listed by several targets is named by the first
	var items []walkItem
	listed := map[int]bool{}
	for _, name := range names {
		ts := s.targets[name]
		since := w.last
		if ts.cgroupOnly {
			since = w.lastIdless
		}
		for j, pid := range ts.pids {
			if listed[pid] || j >= len(ts.nsOf) || ts.nsOf[j] != ns {
				continue
			}
			listed[pid] = true
			it := walkItem{pid: pid, target: name, holder: holders[pid], otherUID: true, fds: math.MaxInt}
			if uid, n, err := fdStat(s.procRoot, pid, s.dirBuf); err == nil {
				it.otherUID, it.fds = !w.uids[uid], n
			}
			if m, ok := s.owners.marks[pid]; ok && it.fds != math.MaxInt && m.cleared(since, scan, it.fds) {
				continue
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
//     before they make its table large. When the owner is the process
//     with the most fds, the walk still finds it at the top of its table
//     after the tops of the others, not after the whole of every other
//     table (resolveOwners; bench/results.md shows both cases).
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
