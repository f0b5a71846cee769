//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Entry is one socket of the map: one TCP socket in CLOSE_WAIT.
type Entry struct {
	Cookie uint64 // the socket cookie: the key, and sock_diag's idiag_cookie
	Family uint16 // unix.AF_INET or AF_INET6
	// Local and Remote are the endpoints; an IPv6 socket's v4-mapped
	// addresses are kept as they are (the family's form).
	Local, Remote netip.AddrPort
	// Entered is when the socket entered CLOSE_WAIT, on CLOCK_BOOTTIME.
	Entered time.Duration
	Cgroup  uint64 // cgroup v2 id kept with the socket; 0: unknown
	// Inode is the socket's sockfs inode, 0 when no file held it at the
	// change: a connection still in its listener's accept queue. It gets
	// one when accepted, which no state change tells.
	Inode uint64
	Netns uint32 // inode of its network namespace
	UID   uint32
}

// batch is how many entries one batch lookup asks for. A hash map's batch
// returns whole buckets; a bucket longer than this (it never is with the
// kernel's hash) makes the kernel answer ENOSPC, and Entries iterates.
const batch = 256

// Entries appends the map's entries to dst[:0] and returns it: the
// sockets in CLOSE_WAIT now, with the ones entered or left meanwhile
// present or not. It reads with batch lookups where the kernel has them
// (5.6), else entry by entry.
func (p *Program) Entries(dst []Entry) ([]Entry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.link == nil {
		return nil, errors.New("bpf: program closed")
	}
	dst = dst[:0]
	if !p.noBatch {
		out, err := p.batchEntries(dst)
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, unix.ENOSPC) {
			return nil, err
		}
		p.noBatch = errors.Is(err, ebpf.ErrNotSupported)
	}
	var k uint64
	var v closewaitCwValue
	it := p.objs.Closewait.Iterate()
	for it.Next(&k, &v) {
		dst = append(dst, entryOf(k, &v))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: read map: %w", err)
	}
	return dst, nil
}

func (p *Program) batchEntries(dst []Entry) ([]Entry, error) {
	if p.keys == nil {
		p.keys, p.vals = make([]uint64, batch), make([]closewaitCwValue, batch)
	}
	var cursor ebpf.MapBatchCursor
	for {
		n, err := p.objs.Closewait.BatchLookup(&cursor, p.keys, p.vals, nil)
		for i := range n {
			dst = append(dst, entryOf(p.keys[i], &p.vals[i]))
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

func entryOf(k uint64, v *closewaitCwValue) Entry {
	e := Entry{Cookie: k, Family: v.Family, Entered: time.Duration(v.Entered), Cgroup: v.Cgroup,
		Inode: v.Inode, Netns: v.Netns, UID: v.Uid}
	var l, r netip.Addr
	if v.Family == unix.AF_INET {
		l, r = netip.AddrFrom4([4]byte(v.Local[:4])), netip.AddrFrom4([4]byte(v.Remote[:4]))
	} else {
		l, r = netip.AddrFrom16(v.Local), netip.AddrFrom16(v.Remote)
	}
	e.Local, e.Remote = netip.AddrPortFrom(l, v.Lport), netip.AddrPortFrom(r, v.Rport)
	return e
}

func valueOf(e Entry) closewaitCwValue {
	v := closewaitCwValue{Entered: uint64(e.Entered), Cgroup: e.Cgroup, Inode: e.Inode, Netns: e.Netns,
		Uid: e.UID, Lport: e.Local.Port(), Rport: e.Remote.Port(), Family: e.Family}
	put := func(dst *[16]byte, a netip.Addr) {
		if e.Family == unix.AF_INET {
			if a = a.Unmap(); a.Is4() {
				v4 := a.As4()
				copy(dst[:], v4[:])
			}
			return
		}
		*dst = a.As16()
	}
	put(&v.Local, e.Local.Addr())
	put(&v.Remote, e.Remote.Addr())
	return v
}

// ErrFull is returned (wrapped) by Insert when the map has no room.
var ErrFull = errors.New("bpf: CLOSE_WAIT map full")

// Insert adds a socket the program did not see enter CLOSE_WAIT (one
// already there when the program was attached, found by a dump) unless
// the map has it: the program's own entry, newer, wins. A socket that
// left CLOSE_WAIT between the dump and the insert stays as a stale entry
// until a cross-check finds it (Delete).
func (p *Program) Insert(e Entry) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.link == nil {
		return errors.New("bpf: program closed")
	}
	v := valueOf(e)
	err := p.objs.Closewait.Update(e.Cookie, &v, ebpf.UpdateNoExist)
	switch {
	case err == nil, errors.Is(err, ebpf.ErrKeyExist):
		return nil
	case errors.Is(err, unix.E2BIG), errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: %w", ErrFull, err)
	default:
		return fmt.Errorf("bpf: insert: %w", err)
	}
}

// Delete removes the entry of cookie, if any: a stale one.
func (p *Program) Delete(cookie uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.link == nil {
		return errors.New("bpf: program closed")
	}
	if err := p.objs.Closewait.Delete(cookie); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: delete: %w", err)
	}
	return nil
}

// Counters are the program's counts since Load, summed over CPUs.
type Counters struct {
	Entered  uint64 // transitions into CLOSE_WAIT
	Left     uint64 // transitions out of CLOSE_WAIT
	Overflow uint64 // entries lost because the map was full
}

// Counters reads the program's counters.
func (p *Program) Counters() (Counters, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.link == nil {
		return Counters{}, errors.New("bpf: program closed")
	}
	var c Counters
	for i, dst := range []*uint64{&c.Entered, &c.Left, &c.Overflow} {
		var per []uint64
		if err := p.objs.Counters.Lookup(uint32(i), &per); err != nil {
			return Counters{}, fmt.Errorf("bpf: read counters: %w", err)
		}
		for _, n := range per {
			*dst += n
		}
	}
	return c, nil
}
