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
