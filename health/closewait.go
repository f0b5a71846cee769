//go:build linux

package health

import (
	"cmp"
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
// (resolveOwners, owners.go), and cached. A target with Target.CgroupOnly
// may hold none that carries a cgroup id.

// judged is one target during a Scan: what it was asked to judge, its
// result, and what the CLOSE_WAIT check finds for it. Scan makes one per
// target (Scanner.records); the namespace groups point to them
// (nsGroup.members), so every step below reads and writes the fields of
// the target at hand.
type judged struct {
	t          Target
	pol        Policy       // t.Policy with its defaults
	res        *Result      // in the slice Scan returns
	ts         *targetState // what the Scanner remembers of the target
	cgroupOnly bool         // t.cgroupOnly(), read for every socket of the dump

	// canPersist tells that some socket may be persistent for the target
	// at this Scan: its CLOSE_WAIT check is on and it has had enough scans
	// (persistSince). A socket is persistent for it when it has been in
	// CLOSE_WAIT since limit or earlier.
	canPersist bool
	limit      time.Time
	// nowUnknown: a namespace of the target could not be read, or gave no
	// cgroup ids, so its CloseWaitNow is -1 (scanCloseWait).
	nowUnknown bool
	// persistent lists the persistent CLOSE_WAIT sockets the target owns:
	// by cgroup id (byCgroup), then by owner walk (appendPersistent). It
	// goes into the Evidence, so it is never reused.
	persistent []SocketSample
}

// decided reports whether the persistent sockets the target's cgroup id
// gave it (before any owner walk) reach its threshold: more could change
// neither its verdict nor what is done about it.
func (j *judged) decided() bool {
	return j.canPersist && len(j.persistent) >= j.pol.CloseWait.Threshold
}

// persistentFor reports whether the owner-walk candidate k, once found in
// a table of the target's, is one of its persistent sockets: in
// CLOSE_WAIT since its limit or earlier, not ignored by it, and for a
// CgroupOnly target without a cgroup id (the others are its own by id
// or not at all).
func (j *judged) persistentFor(k *cand) bool {
	return j.canPersist && !k.since.After(j.limit) && !(j.cgroupOnly && k.cgroup != 0) && !j.pol.CloseWait.Ignore.Match(k.tuple.Remote)
}

// scanCloseWait is the CLOSE_WAIT check of one Scan, in four steps:
//
//  1. the targets are grouped by network namespace (groupByNetns), and
//     each learns from its own scans since when a socket must have been
//     in CLOSE_WAIT to be persistent for it (persistSince);
//  2. each namespace is read once (readGroup): a socket carrying the
//     cgroup id of a member is that member's (byCgroup), any other that
//     may be persistent for some member is an owner-walk candidate;
//  3. the owners of the candidates are looked up (resolveOwners);
//  4. each member takes the candidates it owns and that are persistent
//     for it (appendPersistent).
//
// It leaves in each record the target's persistent sockets, sorted, and
// in its result CloseWaitNow.
func (s *Scanner) scanCloseWait(js []judged, now time.Time) {
	groups := s.groupByNetns(js)
	for i := range js {
		j := &js[i]
		j.limit, j.canPersist = persistSince(j.pol.CloseWait, j.t.Interval, j.ts.scans)
		j.ts.scans = trimScans(j.ts.scans, j.limit, j.canPersist, j.pol.CloseWait.Disabled)
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
	// Every namespace is read before the caches are trimmed to what the
	// dumps hold, and they are trimmed before any walk consults them: an
	// inode gone from every dump loses its owner, and a change of the
	// owned PIDs voids every "not ours" (setOwned).
	s.forgetNamespaces()
	s.owners.prune(s.live)
	s.owners.keep(s.ownedPIDs())

	for _, g := range groups {
		if len(g.cands) == 0 {
			continue
		}
		s.resolveOwners(g, decidedByCgroup(g))
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

// nsGroup is the set of targets sharing one network namespace, read with
// one CloseWait call per scan.
type nsGroup struct {
	ns      uint64
	pid     int       // pid whose namespace is read; 0 = the supervisor's own
	members []*judged // each target once, in the Scan's order
	cands   []cand    // the owner-walk candidates of this scan's dump
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

// trimScans drops the scan times no later scan will need: those before
// limit, the scan persistSince settled on (it is the latest scan at or
// before the last one less the span, and both only move forward), or
// all but the last when the CLOSE_WAIT check is off. A target scanned
// for hours then keeps a few times, not maxScans.
func trimScans(scans []time.Time, limit time.Time, ok, disabled bool) []time.Time {
	switch {
	case disabled && len(scans) > 1:
		return append(scans[:0], scans[len(scans)-1])
	case !ok:
		return scans
	}
	i := 0
	for i < len(scans) && scans[i].Before(limit) {
		i++
	}
	if i == 0 {
		return scans
	}
	return append(scans[:0], scans[i:]...)
}

// nsState is what the Scanner knows of one network namespace's CLOSE_WAIT
// sockets between scans, by inode (socket inodes are unique on the host).
type nsState struct {
	since map[uint64]seen // in every dump of the namespace since then
	spare map[uint64]seen // the previous map, reused for the next dump
	cands []cand          // the candidates of the last dump, reused
}

// seen is a CLOSE_WAIT socket of a namespace: its tuple (an inode reused
// by a new socket has another, and starts afresh) and since when it has
// been in every dump, as a time and as the scan of the first of those
// dumps (Stats.Scans then).
type seen struct {
	tuple Tuple
	since time.Time
	first uint64
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
			e = seen{tuple: so.Tuple, since: now, first: uint64(s.stats.Scans)}
		}
		next[so.Inode] = e
		noIDs = noIDs || so.CgroupID == 0
		if so.CgroupID != 0 && (s.byCgroup(byID[so.CgroupID], so.Inode, e, now) || !idsForeign) {
			continue
		}
		if candidate(g, so.Tuple.Remote, e.since, so.CgroupID) {
			g.cands = append(g.cands, cand{inode: so.Inode, tuple: so.Tuple, since: e.since, first: e.first, uid: so.UID, cgroup: so.CgroupID})
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

// cand is an owner-walk candidate: a socket of the dump that may be
// persistent for a member that may hold it, with what the dump said of it.
type cand struct {
	inode  uint64
	tuple  Tuple
	since  time.Time
	first  uint64 // the scan since which it has been in CLOSE_WAIT (seen.first)
	uid    uint32
	cgroup uint64 // 0: unknown, so any target may own it, CgroupOnly ones too
}

// decidedByCgroup returns the members of g whose verdict the sockets of
// their cgroup decide alone: as many persistent sockets carry their
// cgroup id (byCgroup) as their threshold asks for. A socket they might
// hold besides would change neither the verdict nor the action, so the
// owner walk does not read their tables for it; nil when there is none.
// Such a verdict names the sockets carrying the id, and counts them, in
// CloseWait, without the ones of other cgroups the target may hold too.
func decidedByCgroup(g *nsGroup) map[string]bool {
	var out map[string]bool
	for _, j := range g.members {
		if j.decided() {
			if out == nil {
				out = map[string]bool{}
			}
			out[j.t.Name] = true
		}
	}
	return out
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

// appendPersistent appends to dst the owner-walk candidates of g that are
// persistent sockets of j: owned by one of its PIDs as the walks found, in
// CLOSE_WAIT since its limit or earlier, not ignored by it; each sample's
// Age is counted up to now. A CgroupOnly target takes only the sockets
// without a cgroup id here: the others are its own by id or not at all.
func (s *Scanner) appendPersistent(dst []SocketSample, g *nsGroup, j *judged, now time.Time) []SocketSample {
	for i := range g.cands {
		k := &g.cands[i]
		pid, ok := s.owners.pos[k.inode]
		if !ok || !slices.Contains(j.res.PIDs, pid) || !j.persistentFor(k) {
			continue
		}
		dst = append(dst, SocketSample{PID: pid, Inode: k.inode, Tuple: k.tuple, Age: Duration(now.Sub(k.since))})
	}
	return dst
}

// compareSamples orders a target's persistent sockets by foreign endpoint
// first, so that the evidence lists the sockets to one peer together, and
// never by the order of a dump or a walk.
func compareSamples(a, b SocketSample) int {
	return cmp.Or(
		a.Tuple.Remote.Compare(b.Tuple.Remote),
		a.Tuple.Local.Compare(b.Tuple.Local),
		cmp.Compare(a.PID, b.PID),
		cmp.Compare(a.Inode, b.Inode),
	)
}
