//go:build linux

package health

import (
	"cmp"
	"math"
	"net/netip"
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
//
// Who owns a socket is decided apart from how long it has been there. A
// target with a cgroup (Target.Cgroup) owns the sockets carrying its
// cgroup id, read from the dump itself (cgroup.go). Every other socket
// that may be persistent for some target is an owner-walk candidate: its
// owner is looked up in the fd tables of the targets that may hold it
// (resolveOwners), and cached. A target with Target.CgroupOnly may hold
// none that carries a cgroup id.

// nsState is what the Scanner knows of one network namespace's CLOSE_WAIT
// sockets between scans, by inode (socket inodes are unique on the host).
type nsState struct {
	since map[uint64]seen // in every dump of the namespace since then
	spare map[uint64]seen // the previous map, reused for the next dump
	cands []cand          // the candidates of the last dump, reused
}

// seen is a CLOSE_WAIT socket of a namespace: its tuple (an inode reused
// by a new socket has another, and starts afresh) and since when it has
// been in every dump.
type seen struct {
	tuple Tuple
	since time.Time
}

// nsGroup is the set of targets sharing one network namespace, read with
// one CloseWait call per scan.
type nsGroup struct {
	ns      uint64
	pid     int       // pid whose namespace is read; 0 = the supervisor's own
	members []*judged // each target once, in the Scan's order
	cands   []cand    // the owner-walk candidates of this scan's dump
}

// cand is an owner-walk candidate: a socket of the dump that may be
// persistent for a member that may hold it, with what the dump said of it.
type cand struct {
	inode  uint64
	tuple  Tuple
	since  time.Time
	uid    uint32
	cgroup uint64 // 0: unknown, so any target may own it, CgroupOnly ones too
}

// groupByNetns groups targets by network namespace, the inode of
// /proc/<pid>/ns/net of each of their processes: a target whose processes
// live in several namespaces (a child that runs `unshare -n` before its
// server) is a member of each group, and its sockets are read in every
// one. A process whose namespace cannot be read is taken to share the
// supervisor's (logged for the target's main process; another one is most
// likely gone). Each target's state keeps the namespace of each of its
// processes (targetState.nsOf), for the owner walk.
func (s *Scanner) groupByNetns(js []judged) []*nsGroup {
	var groups []*nsGroup
	byNS := map[uint64]*nsGroup{}
	for i := range js {
		j := &js[i]
		if len(j.res.PIDs) == 0 {
			continue
		}
		j.ts.nsOf = j.ts.nsOf[:0]
		for _, pid := range j.res.PIDs {
			ns, nsPID := s.ownNS, 0
			if s.ownNS != 0 {
				n, err := netnsInode(s.procRoot, strconv.Itoa(pid))
				switch {
				case err != nil && pid == j.t.PID:
					s.logOnce(j.t.Name, "netns", j.t.PID, err)
				case err == nil && n != s.ownNS:
					ns, nsPID = n, pid
				}
			}
			j.ts.nsOf = append(j.ts.nsOf, ns)
			g := byNS[ns]
			if g == nil {
				g = &nsGroup{ns: ns, pid: nsPID}
				byNS[ns] = g
				groups = append(groups, g)
			}
			if n := len(g.members); n == 0 || g.members[n-1] != j {
				g.members = append(g.members, j)
			}
		}
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

// scanCloseWait is the CLOSE_WAIT check of one Scan. It groups the targets
// by network namespace, reads each namespace once (readGroup), finds the
// owners of the sockets no cgroup id gave away (resolveOwners), and leaves
// in each target's record its persistent sockets, sorted, and in its
// result CloseWaitNow.
func (s *Scanner) scanCloseWait(js []judged, now time.Time) {
	groups := s.groupByNetns(js)
	for i := range js {
		j := &js[i]
		j.limit, j.canPersist = persistSince(j.pol.CloseWait, j.t.Interval, j.ts.scans)
		if j.t.cgroupID() != 0 && !j.pol.CloseWait.Disabled {
			j.res.CloseWaitNow = 0 // counted by byCgroup, in every namespace of the target
		}
	}
	for _, g := range groups {
		s.readGroup(g, now)
	}
	for i := range js {
		if js[i].nowUnknown {
			js[i].res.CloseWaitNow = -1
		}
	}
	// The caches follow the dumps just read before any walk uses them.
	s.forgetNamespaces()
	s.owners.prune(s.live)
	s.owners.setOwned(s.ownedPIDs())

	for _, g := range groups {
		if len(g.cands) == 0 {
			continue
		}
		s.resolveOwners(g)
		for _, j := range g.members {
			if j.canPersist {
				j.persistent = s.appendPersistent(j.persistent, g, j, now)
			}
		}
	}
	for i := range js {
		slices.SortFunc(js[i].persistent, compareSamples)
	}
}

// readGroup reads the CLOSE_WAIT sockets of g's namespace, records since
// when each has been there, gives the sockets carrying the cgroup id of a
// member to it (byCgroup), and collects the owner-walk candidates among
// the others: sockets old enough to be persistent for at least one member
// that may hold them, and not ignored by it.
func (s *Scanner) readGroup(g *nsGroup, now time.Time) {
	if !slices.ContainsFunc(g.members, func(j *judged) bool { return !j.pol.CloseWait.Disabled }) {
		return // no member checks CLOSE_WAIT
	}
	st := s.nss[g.ns]
	if st == nil {
		st = &nsState{since: map[uint64]seen{}, spare: map[uint64]seen{}}
		s.nss[g.ns] = st
	}
	socks, err := s.reader.CloseWait(g.pid)
	if err != nil {
		s.stats.ReadErrors++
		first := g.members[0]
		s.logOnce(first.t.Name, "read sockets ("+s.reader.Name()+")", first.t.PID, err)
		clear(st.since) // no data: persistence starts over rather than guess
		for _, j := range g.members {
			j.nowUnknown = true
		}
		return
	}
	byID := cgroupMembers(g)
	// Whether a socket carrying a cgroup id none of the members has may
	// be held by a member: not when every member that could be judged is
	// CgroupOnly (the supervisor's children), which spares the member
	// loop of candidate for every other socket of the host.
	idsForeign := slices.ContainsFunc(g.members, func(j *judged) bool { return j.canPersist && !j.cgroupOnly })
	noIDs := false // the reader gives no cgroup ids
	next := st.spare
	clear(next)
	g.cands = st.cands[:0]
	for _, so := range socks {
		if so.Inode == 0 {
			continue // no file holds it: nobody's to judge
		}
		e, ok := st.since[so.Inode]
		if !ok || e.tuple != so.Tuple {
			e = seen{tuple: so.Tuple, since: now}
		}
		next[so.Inode] = e
		noIDs = noIDs || so.CgroupID == 0
		if so.CgroupID != 0 && (s.byCgroup(byID[so.CgroupID], so.Inode, e, now) || !idsForeign) {
			continue
		}
		if candidate(g, so.Tuple.Remote, e.since, so.CgroupID) {
			g.cands = append(g.cands, cand{inode: so.Inode, tuple: so.Tuple, since: e.since, uid: so.UID, cgroup: so.CgroupID})
		}
	}
	st.cands = g.cands
	st.spare, st.since = st.since, next
	if noIDs {
		for _, members := range byID {
			for _, j := range members {
				j.nowUnknown = true
			}
		}
	}
}

// candidate reports whether a socket to remote, in CLOSE_WAIT since
// since, may be persistent for some member of g that may hold it. A
// socket that carries a cgroup id (none of the members', or byCgroup
// would have taken it) is held by none of the CgroupOnly members.
func candidate(g *nsGroup, remote netip.AddrPort, since time.Time, cgroup uint64) bool {
	for _, j := range g.members {
		if cgroup != 0 && j.cgroupOnly {
			continue
		}
		if j.canPersist && !since.After(j.limit) && !j.pol.CloseWait.Ignore.Match(remote) {
			return true
		}
	}
	return false
}

// forgetNamespaces drops the sockets of the network namespaces no known
// target lives in any more: a child that ran its server in a namespace of
// its own takes the namespace with it when it restarts.
func (s *Scanner) forgetNamespaces() {
	for ns := range s.nss {
		used := false
		for _, ts := range s.targets {
			used = used || slices.Contains(ts.nsOf, ns)
		}
		if !used {
			delete(s.nss, ns)
		}
	}
}

// live reports whether some namespace still has the socket inode in
// CLOSE_WAIT.
func (s *Scanner) live(inode uint64) bool {
	for _, st := range s.nss {
		if _, ok := st.since[inode]; ok {
			return true
		}
	}
	return false
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

// appendPersistent appends to dst the owner-walk candidates of g that are
// persistent sockets of j: owned by one of its PIDs as the walks found, in
// CLOSE_WAIT since its limit or earlier, not ignored by it; each sample's
// Age is counted up to now. A CgroupOnly target takes only the sockets
// without a cgroup id here: the others are its own by id or not at all.
func (s *Scanner) appendPersistent(dst []SocketSample, g *nsGroup, j *judged, now time.Time) []SocketSample {
	for _, k := range g.cands {
		pid, ok := s.owners.pos[k.inode]
		if !ok || !slices.Contains(j.res.PIDs, pid) || k.since.After(j.limit) || j.cgroupOnly && k.cgroup != 0 || j.pol.CloseWait.Ignore.Match(k.tuple.Remote) {
			continue
		}
		dst = append(dst, SocketSample{PID: pid, Inode: k.inode, Tuple: k.tuple, Age: Duration(now.Sub(k.since))})
	}
	return dst
}

func compareSamples(a, b SocketSample) int {
	return cmp.Or(
		a.Tuple.Remote.Compare(b.Tuple.Remote),
		a.Tuple.Local.Compare(b.Tuple.Local),
		cmp.Compare(a.PID, b.PID),
		cmp.Compare(a.Inode, b.Inode),
	)
}
