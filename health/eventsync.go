//go:build linux

package health

import (
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/health/bpf"
)

// The map and the dump are kept in step per network namespace.
//
// Sync: the program sees sockets enter CLOSE_WAIT from the moment it is
// attached; a socket already there is only in a dump. The first time a
// namespace is asked for, it is dumped and every socket the map lacks is
// added to it (bpf.Program.Insert: never over the program's own entry).
// The dump answers that Scan; the map answers the next ones. A socket that
// leaves CLOSE_WAIT between the dump and its insert leaves a stale entry,
// which the next cross-check removes.
//
// Overflow: a socket the program could not add to a full map is counted
// by the kernel; the map may then lack sockets of any namespace. Every
// namespace goes out of step, and is answered by the dump, merged into
// the map as above, until a merge completes with no loss: the map holds
// all its sockets again.
//
// Cross-check: every EventOptions.CrossCheck, a namespace is dumped
// between two reads of the map (A before, B after). A socket of the dump
// in neither read was missed (it is added); an entry in both reads that
// the dump lacks is stale (it is removed: it left CLOSE_WAIT unseen, or
// was merged just after it left). A socket that entered or left between
// the reads is in one of them and counts as neither. The dump answers
// that Scan.

// sync dumps namespace ns through pid, merges the dump into the map, and
// returns the dump.
func (r *eventReader) sync(pid int, ns uint64, st *eventNS, now time.Time) ([]Socket, error) {
	socks, err := r.dump.CloseWait(pid)
	if err != nil {
		return nil, err
	}
	r.stats.Dumps++
	r.stats.Syncs++
	have := r.cookies(ns)
	full := false
	for _, s := range socks {
		if _, ok := have[s.Cookie]; ok || s.Cookie == 0 {
			continue
		}
		if err := r.prog.Insert(entryOf(s, ns)); err != nil {
			if !errors.Is(err, bpf.ErrFull) {
				return nil, err
			}
			full = true
			break
		}
	}
	c, err := r.prog.Counters()
	if err != nil {
		return nil, err
	}
	if full || c.Overflow != r.overflow {
		// Still full, or lost some meanwhile: the next Scan tries again
		// (the next read of the counter starts a new episode if needed).
		return socks, nil
	}
	st.synced, st.checked = r.gen+1, now
	if r.overflowing {
		r.overflowing = false
		r.log.Info().Int("map_size", r.prog.MapSize()).Msg("CLOSE_WAIT event map holds every CLOSE_WAIT socket again: back to the map")
	}
	r.fresh = false // the map has the merged sockets now
	return socks, nil
}

// crossCheck compares the map with a dump of ns (see above), repairs the
// map, counts and logs what disagreed, and returns the dump.
func (r *eventReader) crossCheck(pid int, ns uint64, st *eventNS, now time.Time) ([]Socket, error) {
	before := r.cookies(ns)
	socks, err := r.dump.CloseWait(pid)
	if err != nil {
		return nil, err
	}
	r.stats.Dumps++
	r.stats.CrossChecks++
	r.fresh = false
	if err := r.read(); err != nil {
		return nil, err
	}
	after := r.cookies(ns)
	inDump := make(map[uint64]struct{}, len(socks))
	var missed, stale []Socket
	for _, s := range socks {
		inDump[s.Cookie] = struct{}{}
		_, a := before[s.Cookie]
		_, b := after[s.Cookie]
		if !a && !b && s.Cookie != 0 {
			missed = append(missed, s)
			if err := r.prog.Insert(entryOf(s, ns)); err != nil && !errors.Is(err, bpf.ErrFull) {
				return nil, err
			}
		}
	}
	for c, e := range after {
		if _, ok := before[c]; !ok {
			continue
		}
		if _, ok := inDump[c]; !ok {
			stale = append(stale, socketOf(e))
			if err := r.prog.Delete(c); err != nil {
				return nil, err
			}
		}
	}
	st.checked = now
	r.stats.Missed += len(missed)
	r.stats.Stale += len(stale)
	if len(missed)+len(stale) > 0 {
		r.fresh = false
		logDisagreement(r.log, ns, missed, stale)
	}
	return socks, nil
}

// cookies indexes the entries of namespace ns in the last read of the
// map by cookie.
func (r *eventReader) cookies(ns uint64) map[uint64]*bpf.Entry {
	m := map[uint64]*bpf.Entry{}
	for i := range r.snap {
		if uint64(r.snap[i].Netns) == ns {
			m[r.snap[i].Cookie] = &r.snap[i]
		}
	}
	return m
}

// logDisagreement tells of a cross-check that found the map wrong, with a
// few of the sockets.
func logDisagreement(log zerolog.Logger, ns uint64, missed, stale []Socket) {
	ev := log.Warn().Uint64("netns", ns).Int("missed", len(missed)).Int("stale", len(stale))
	arr := zerolog.Arr()
	for i, s := range append(missed[:len(missed):len(missed)], stale...) {
		if i == 5 {
			break
		}
		arr.Str(s.Tuple.Local.String() + " " + s.Tuple.Remote.String())
	}
	ev.Array("sockets", arr).Msg("CLOSE_WAIT event map and dump disagree: map repaired")
}
