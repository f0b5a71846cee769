//go:build linux

package health

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"time"
)

// Persistence is judged per target, in time. A socket (inode and 4-tuple)
// counts for a target once it has been in CLOSE_WAIT in at least Persist
// consecutive scans of that target, spanning at least (Persist-1) of the
// target's intervals; a scan made for another target never advances it.
//
// The socket tables are still read once per namespace per Scan, for all
// the targets of the Scan (the expensive part is shared). Each namespace
// keeps, for every CLOSE_WAIT socket, since when it has been in every dump
// of that namespace (a socket missing from one dump starts over); each
// target keeps the times of its own recent scans. Every scan of a target
// since a socket's first sighting then saw it too, and persistSince tells
// whether those scans are enough.

// nsState is what the Scanner knows of one network namespace's CLOSE_WAIT
// sockets between scans.
type nsState struct {
	since map[sockKey]time.Time // in every dump of the namespace since then
	spare map[sockKey]time.Time // the previous map, reused for the next dump
}

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
		s.state(t.Name).ns = ns
	}
	return groups
}

// persistSince returns the time from which a socket must have been in
// CLOSE_WAIT to be persistent for the target at this scan, the last of
// scans. A socket there since t was seen by every scan of the target from
// the first one at or after t (every dump of its namespace since saw it),
// so it is persistent when those scans are at least Persist and span at
// least (Persist-1) intervals: t must be at or before the latest scan that
// leaves both. ok is false when no scan does yet.
func persistSince(p CloseWaitPolicy, interval time.Duration, scans []time.Time) (time.Time, bool) {
	n := len(scans)
	if p.Disabled || n < p.Persist {
		return time.Time{}, false
	}
	latest := scans[n-1].Add(-time.Duration(p.Persist-1) * interval)
	for j := n - p.Persist; j >= 0; j-- {
		if !scans[j].After(latest) {
			return scans[j], true
		}
	}
	return time.Time{}, false
}

// scanCloseWait reads the namespaces of the groups, updates socket
// presence, and returns, per target, the persistent CLOSE_WAIT sockets it
// owns, sorted.
func (s *Scanner) scanCloseWait(targets []Target, pols []Policy, res []Result, groups []*nsGroup, now time.Time) [][]SocketSample {
	limits := make([]time.Time, len(targets))
	judged := make([]bool, len(targets))
	for i, t := range targets {
		limits[i], judged[i] = persistSince(pols[i].CloseWait, t.Interval, s.state(t.Name).scans)
	}
	for _, g := range groups {
		s.readGroup(g, targets, pols, limits, judged, now)
	}
	s.owners.prune(s.liveInodes())
	s.owners.setOwned(s.ownedPIDs())

	out := make([][]SocketSample, len(targets))
	for _, g := range groups {
		if len(g.cands) == 0 {
			continue
		}
		s.resolveOwners(g, res)
		for _, i := range g.members {
			if judged[i] {
				out[i] = s.persistentOf(g, pols[i].CloseWait, limits[i], res[i].PIDs, now)
			}
		}
	}
	return out
}

// readGroup reads the CLOSE_WAIT sockets of g's namespace, records since
// when each has been there, and collects the candidates: sockets old
// enough to be persistent for at least one member, and not ignored by it.
func (s *Scanner) readGroup(g *nsGroup, targets []Target, pols []Policy, limits []time.Time, judged []bool, now time.Time) {
	reading := false
	for _, i := range g.members {
		reading = reading || !pols[i].CloseWait.Disabled
	}
	if !reading {
		return // no member checks CLOSE_WAIT
	}
	st := s.nss[g.ns]
	if st == nil {
		st = &nsState{since: map[sockKey]time.Time{}, spare: map[sockKey]time.Time{}}
		s.nss[g.ns] = st
	}
	socks, err := s.reader.CloseWait(g.pid)
	if err != nil {
		s.stats.ReadErrors++
		t := targets[g.members[0]]
		s.logOnce(t.Name, "read sockets ("+s.reader.Name()+")", t.PID, err)
		clear(st.since) // no data: persistence starts over rather than guess
		return
	}
	next := st.spare
	clear(next)
	for _, so := range socks {
		k := sockKey{ns: g.ns, inode: so.Inode, tuple: so.Tuple}
		since, ok := st.since[k]
		if !ok {
			since = now
		}
		next[k] = since
		if s.candidate(g, pols, limits, judged, k, since) {
			g.cands = append(g.cands, k)
			if g.uids == nil {
				g.uids = map[uint64]uint32{}
			}
			g.uids[so.Inode] = so.UID
		}
	}
	st.spare, st.since = st.since, next
}

// candidate reports whether the socket k, in CLOSE_WAIT since since, may
// be persistent for some member of g.
func (s *Scanner) candidate(g *nsGroup, pols []Policy, limits []time.Time, judged []bool, k sockKey, since time.Time) bool {
	for _, i := range g.members {
		if judged[i] && !since.After(limits[i]) && !pols[i].CloseWait.Ignore.Match(k.tuple.Remote) {
			return true
		}
	}
	return false
}

// liveInodes returns the inodes of every socket some namespace still has
// in CLOSE_WAIT.
func (s *Scanner) liveInodes() map[uint64]struct{} {
	live := map[uint64]struct{}{}
	for _, st := range s.nss {
		for k := range st.since {
			live[k.inode] = struct{}{}
		}
	}
	return live
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

// resolveOwners walks the fd tables of the owned PIDs of g's namespace,
// once, when some candidate socket has no decided owner yet. Every target
// the Scanner knows in that namespace is walked, not only those of this
// scan: "no target holds it" is cached for all of them. The walk (one
// readlink per fd) is the one expensive part of a scan, so it stops as
// soon as every such socket is found, in the order walkOrder gives.
func (s *Scanner) resolveOwners(g *nsGroup, res []Result) {
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
	live := make(map[uint64]struct{}, len(s.nss[g.ns].since))
	for k := range s.nss[g.ns].since {
		live[k.inode] = struct{}{}
	}
	start, wanted := time.Now(), len(want)
	s.stats.FDWalks++
	tables, readlinks := 0, 0
	for _, w := range s.walkOrder(g.ns, uids) {
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

// walkOrder lists the PIDs of the targets in namespace ns that check
// CLOSE_WAIT, once each, in the order the owner walk reads them: the
// processes most likely to hold the wanted sockets for the fewest
// readlinks first (compareWalk). It costs one stat of /proc/<pid>/fd per
// process (fdStat), against one readlink per fd for the walk itself.
func (s *Scanner) walkOrder(ns uint64, uids map[uint32]bool) []walkItem {
	holders := make(map[int]bool, len(s.owners.pos))
	for _, pid := range s.owners.pos {
		holders[pid] = true
	}
	names := make([]string, 0, len(s.targets))
	for name, ts := range s.targets {
		if ts.cw && ts.ns == ns {
			names = append(names, name)
		}
	}
	slices.Sort(names) // a PID listed by several targets is named by the first
	var items []walkItem
	listed := map[int]bool{}
	for _, name := range names {
		for _, pid := range s.targets[name].pids {
			if listed[pid] {
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

// persistentOf returns the persistent sockets of g owned by pids: in
// CLOSE_WAIT since limit or earlier, not ignored by p; each sample's Age
// is counted up to now.
func (s *Scanner) persistentOf(g *nsGroup, p CloseWaitPolicy, limit time.Time, pids []int, now time.Time) []SocketSample {
	var out []SocketSample
	since := s.nss[g.ns].since
	for _, k := range g.cands {
		first := since[k]
		if first.After(limit) || p.Ignore.Match(k.tuple.Remote) {
			continue
		}
		pid, ok := s.owners.pos[k.inode]
		if !ok || !slices.Contains(pids, pid) {
			continue
		}
		out = append(out, SocketSample{PID: pid, Inode: k.inode, Tuple: k.tuple, Age: Duration(now.Sub(first))})
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
