//go:build linux

package health

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health/bpf"
)

// eventReader is the event source: a SocketReader that answers from the
// map the BPF program keeps (health/bpf), filtered to the network
// namespace asked for, and from the dump when the map cannot be trusted
// for that namespace (eventsync.go). It owns the dump reader.
type eventReader struct {
	mu       sync.Mutex
	prog     *bpf.Program
	dump     *diagReader
	procRoot string
	ownNS    uint64
	log      zerolog.Logger
	opts     EventOptions
	now      func() time.Time

	// snap is the map as read at the start of the Scan (fresh) or at this
	// call; a Scan that asks for several namespaces reads the map once.
	snap     []bpf.Entry
	fresh    bool
	perScan  bool   // the Scanner calls beginScan
	overflow uint64 // the program's overflow count when last read
	// gen counts the overflow episodes: a namespace whose sync is older
	// than the last is out of step with the map (eventNS.synced).
	gen         uint64
	overflowing bool // since an overflow, until a namespace syncs again
	nss         map[uint64]*eventNS
	// inodes keeps the inodes found for entries the program saw without
	// one (a connection in an accept queue), by cookie; trimmed to the
	// map at each read.
	inodes map[uint64]uint64
	out    []Socket
	lookup []Socket
	stats  EventStats
}

// eventNS is what the event source knows of one network namespace.
type eventNS struct {
	synced  uint64    // gen+1 at the namespace's last sync; 0: never
	checked time.Time // last sync or cross-check: the dump's truth
	used    time.Time // last asked for
}

// forgetNSAfter drops what the event source knows of a network namespace
// nobody asked for in that long (a container gone); asked again, it is
// synced again with one dump.
const forgetNSAfter = 10 * time.Minute

func newEventReader(dump *diagReader, procRoot string, log zerolog.Logger, opts EventOptions) (*eventReader, error) {
	if opts.CrossCheck == 0 {
		opts.CrossCheck = DefaultCrossCheck
	}
	prog, err := bpf.Load(bpf.Options{MapSize: opts.MapSize})
	if err != nil {
		return nil, err
	}
	r := &eventReader{prog: prog, dump: dump, procRoot: procRoot, ownNS: dump.ownNS, log: log, opts: opts,
		now: time.Now, nss: map[uint64]*eventNS{}, inodes: map[uint64]uint64{}}
	return r, nil
}

func (r *eventReader) Name() string { return ReaderBPF }

// Close detaches the program and frees its map, and closes the dump
// reader.
func (r *eventReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.prog.Close()
	if derr := r.dump.Close(); err == nil {
		err = derr
	}
	return err
}

// describe says how the event source is set up, for SourceInfo.Why.
func (r *eventReader) describe() string {
	check := "never"
	if r.opts.CrossCheck > 0 {
		s := r.opts.CrossCheck.String() // "1m0s" says "1m"
		if strings.HasSuffix(s, "m0s") {
			s = s[:len(s)-2]
		}
		if strings.HasSuffix(s, "h0m") {
			s = s[:len(s)-2]
		}
		check = "every " + s
	}
	return fmt.Sprintf("BPF program on inet_sock_set_state, map of %d sockets; netlink dump at start, after an overflow, and %s per network namespace as a cross-check",
		r.prog.MapSize(), check)
}

// Stats returns the event source's counters.
func (r *eventReader) Stats() EventStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// beginScan tells the reader a Scan starts: the map is read once for all
// the namespaces the Scan asks for. Without it (a reader wrapped by a
// test), each call reads the map.
func (r *eventReader) beginScan() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.perScan, r.fresh = true, false
	now := r.now()
	for ns, st := range r.nss {
		if now.Sub(st.used) > forgetNSAfter {
			delete(r.nss, ns)
		}
	}
}

// CloseWait returns the CLOSE_WAIT sockets of pid's network namespace
// (0: the supervisor's): from the map, or from a dump when the namespace
// is not in step with the map yet (first time, after an overflow) or is
// due for a cross-check. The slice is valid until the next call.
func (r *eventReader) CloseWait(pid int) ([]Socket, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.ownNS
	if pid > 0 {
		n, err := netnsInode(r.procRoot, strconv.Itoa(pid))
		if err != nil {
			return nil, err
		}
		ns = n
	}
	if err := r.read(); err != nil {
		return nil, err
	}
	now := r.now()
	st := r.nss[ns]
	if st == nil {
		st = &eventNS{}
		r.nss[ns] = st
	}
	st.used = now
	switch {
	case st.synced != r.gen+1:
		return r.sync(pid, ns, st, now)
	case r.opts.CrossCheck > 0 && now.Sub(st.checked) >= r.opts.CrossCheck:
		return r.crossCheck(pid, ns, st, now)
	}
	return r.fromMap(pid, ns)
}

// read reads the map and the overflow count, unless this Scan did. An
// overflow since the last read puts every namespace out of step: the map
// may lack sockets of any of them.
func (r *eventReader) read() error {
	if r.perScan && r.fresh {
		return nil
	}
	var err error
	if r.snap, err = r.prog.Entries(r.snap); err != nil {
		return err
	}
	r.stats.MapReads++
	c, err := r.prog.Counters()
	if err != nil {
		return err
	}
	if c.Overflow > r.overflow {
		r.gen++
		r.stats.OverflowEpisodes++
		if !r.overflowing {
			r.log.Warn().Uint64("lost", c.Overflow-r.overflow).Int("map_size", r.prog.MapSize()).
				Msg("CLOSE_WAIT event map full: the dump is used until the map holds every CLOSE_WAIT socket again")
		}
		r.overflowing = true
	}
	r.overflow, r.stats.Overflow = c.Overflow, c.Overflow
	r.fresh = true
	if len(r.inodes) > 0 {
		r.trimInodes()
	}
	return nil
}

// trimInodes forgets the inodes found for sockets the map no longer has.
func (r *eventReader) trimInodes() {
	live := make(map[uint64]struct{}, len(r.inodes))
	for _, e := range r.snap {
		if _, ok := r.inodes[e.Cookie]; ok {
			live[e.Cookie] = struct{}{}
		}
	}
	for c := range r.inodes {
		if _, ok := live[c]; !ok {
			delete(r.inodes, c)
		}
	}
}

// maxInodeLookups is how many sockets without an inode the event source
// asks the kernel for one by one in a namespace at a Scan; more cost one
// dump of the namespace instead. Such a socket is a connection its peer
// closed while it waited in an accept queue: a listener whose backlog
// fills with them makes the event source pay the dump's price until they
// are accepted or reset.
const maxInodeLookups = 64

// fromMap returns the map's sockets of namespace ns as a dump would give
// them, with the inodes of those that had none when they entered
// CLOSE_WAIT looked up.
func (r *eventReader) fromMap(pid int, ns uint64) ([]Socket, error) {
	r.out = r.out[:0]
	r.lookup = r.lookup[:0]
	for i := range r.snap {
		e := &r.snap[i]
		if uint64(e.Netns) != ns {
			continue
		}
		s := socketOf(e)
		if s.Inode == 0 {
			s.Inode = r.inodes[e.Cookie]
		}
		if s.Inode == 0 {
			r.lookup = append(r.lookup, s)
			continue
		}
		r.out = append(r.out, s)
	}
	if len(r.lookup) > 0 {
		if err := r.findInodes(pid); err != nil {
			return nil, err
		}
		for _, s := range r.lookup {
			if s.Inode != 0 {
				r.inodes[s.Cookie] = s.Inode
			}
			r.out = append(r.out, s) // with 0 still: the dump gives those too
		}
	}
	return r.out, nil
}

// findInodes fills the inodes of r.lookup: one by one when they are few,
// from one dump of the namespace when they are many.
func (r *eventReader) findInodes(pid int) error {
	if len(r.lookup) <= maxInodeLookups {
		n, err := r.dump.Inodes(pid, r.lookup)
		r.stats.InodeLookups += n
		return err
	}
	socks, err := r.dump.CloseWait(pid)
	if err != nil {
		return err
	}
	r.stats.Dumps++
	r.stats.InodeDumps++
	byCookie := make(map[uint64]uint64, len(socks))
	for _, s := range socks {
		byCookie[s.Cookie] = s.Inode
	}
	for i := range r.lookup {
		r.lookup[i].Inode = byCookie[r.lookup[i].Cookie]
	}
	return nil
}

// socketOf is an entry of the map as a dump reports the socket.
func socketOf(e *bpf.Entry) Socket {
	return Socket{
		Inode:    e.Inode,
		UID:      e.UID,
		CgroupID: e.Cgroup,
		Cookie:   e.Cookie,
		Tuple: Tuple{
			Local:  netip.AddrPortFrom(e.Local.Addr().Unmap(), e.Local.Port()),
			Remote: netip.AddrPortFrom(e.Remote.Addr().Unmap(), e.Remote.Port()),
		},
	}
}

// entryOf is a socket of a dump as the program would have recorded it,
// entered now: for a socket that was in CLOSE_WAIT before the program ran.
func entryOf(s Socket, ns uint64) bpf.Entry {
	fam := uint16(unix.AF_INET6)
	local, remote := s.Tuple.Local, s.Tuple.Remote
	if local.Addr().Is4() {
		fam = unix.AF_INET
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return bpf.Entry{Cookie: s.Cookie, Family: fam, Local: local, Remote: remote, Entered: time.Duration(ts.Nano()),
		Cgroup: s.CgroupID, Inode: s.Inode, Netns: uint32(ns), UID: s.UID}
}
