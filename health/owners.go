//go:build linux

package health

import "slices"

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
