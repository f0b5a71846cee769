//go:build linux

package health

import "testing"

// The sockets of a network namespace no known target lives in any more
// are dropped, with the owners found there.
func TestForgetNamespaces(t *testing.T) {
	s := newTestScanner(t, ReaderProc)
	s.nss[1] = &nsState{since: map[uint64]seen{10: {}}}
	s.nss[2] = &nsState{since: map[uint64]seen{20: {}}}
	s.owners.pos[10], s.owners.pos[20] = 100, 200
	s.state("a").nsOf = []uint64{1, 1}
	s.forgetNamespaces()
	s.owners.prune(s.live)
	if len(s.nss) != 1 || s.nss[1] == nil {
		t.Errorf("namespaces kept: %v, want only 1", s.nss)
	}
	if _, ok := s.owners.pos[20]; ok || s.owners.pos[10] != 100 {
		t.Errorf("owners %v, want only inode 10's", s.owners.pos)
	}
}

// keep forgets the owners and marks of PIDs no target has any more, and
// only those.
func TestOwnerCacheKeep(t *testing.T) {
	c := newOwnerCache()
	c.pos[100], c.pos[200] = 1, 2
	c.marks[1], c.marks[2], c.marks[3] = walkMark{scan: 1}, walkMark{scan: 1}, walkMark{scan: 1}
	c.keep([]int{3, 1, 1})
	if _, ok := c.pos[200]; ok || c.pos[100] != 1 {
		t.Errorf("owners %v, want only pid 1's", c.pos)
	}
	if _, ok := c.marks[2]; ok || len(c.marks) != 2 {
		t.Errorf("marks %v, want pids 1 and 3", c.marks)
	}
	c.dropPIDs([]int{1})
	if len(c.pos) != 0 || len(c.marks) != 1 {
		t.Errorf("after dropping pid 1: owners %v, marks %v", c.pos, c.marks)
	}
}

// A mark clears a process of the sockets that were in CLOSE_WAIT when its
// table was read, while its fd count has not risen, for negativeTTL
// scans.
func TestWalkMarkCleared(t *testing.T) {
	m := walkMark{scan: 10, fds: 50}
	for _, tc := range []struct {
		name       string
		since, now uint64
		fds        int
		want       bool
	}{
		{"socket older than the walk", 4, 11, 50, true},
		{"socket of the walk's scan", 10, 10, 50, true},
		{"fewer fds now", 4, 11, 20, true},
		{"socket newer than the walk", 11, 12, 50, false},
		{"one fd more", 4, 11, 51, false},
		{"last scan of the TTL", 4, 10 + negativeTTL - 1, 50, true},
		{"TTL over", 4, 10 + negativeTTL, 50, false},
	} {
		if have := m.cleared(tc.since, tc.now, tc.fds); have != tc.want {
			t.Errorf("%s: cleared = %v, want %v", tc.name, have, tc.want)
		}
	}
}
