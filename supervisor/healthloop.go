//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cadence"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
)

// healthLoop runs the health scan for every Running child. Each child is
// due every health.interval, at a fixed rate (internal/cadence): the due
// times of an interval are the points of one grid, base + k×interval, so
// a scan that starts late or takes long does not push the next, and all
// children due at the same moment are judged by one Scan (one socket
// dump for all of them): with the usual single interval the whole host
// costs one dump per tick.
//
// For that, a child's first scan waits for the next point of its
// interval's grid (up to one interval): children that became Running a
// few milliseconds apart would otherwise keep their phases, and 50
// children started together were judged in two or three Scans per
// interval, each paying for the whole dump (2 ms on an idle host, tens of
// ms at 100k sockets). Each scan is stamped with its due time
// (health.Scanner.ScanAt), so that a child's scans are an interval apart
// as persistence counts them, whatever the timer's latency.
type healthLoop struct {
	sup     *Supervisor
	scanner *health.Scanner
	due     map[string]time.Time
	pids    map[string]int // pid judged last time, to forget state on restart
	// leaves holds the cgroup of each child's live process, found once
	// per process.
	leaves map[string]leafRef
	// socketIDs: sockets carry their creator's cgroup id on this host
	// (cgroup.SocketIDs); without it, children are judged by process tree
	// and fd walks even in cgroups.
	socketIDs bool
	// base anchors the grids of due times (cadence.First).
	base time.Time
}

// leafRef is the cgroup of one process of a child, as a health.Target
// names it; id 0 when the process has none (process-group ownership, or
// its id could not be read).
type leafRef struct {
	pid int
	id  uint64
	dir string
}

func newHealthLoop(s *Supervisor, sup config.Supervisor) (*healthLoop, error) {
	sc, err := health.NewScanner(health.ScannerOptions{Source: sup.HealthSource, Reader: sup.HealthReader,
		Log: s.log.With().Str("component", "health").Logger()})
	if err != nil {
		return nil, err
	}
	src := sc.Source()
	s.log.Info().Str("source", src.Name).Str("why", src.Why).Msg("health scan ready")
	ids, why := cgroup.SocketIDs()
	if !ids {
		s.log.Info().Str("why", why).Msg("socket cgroup ids unusable: CLOSE_WAIT owners will be found by fd walks")
	}
	return &healthLoop{sup: s, scanner: sc, due: map[string]time.Time{}, pids: map[string]int{},
		leaves: map[string]leafRef{}, socketIDs: ids, base: time.Now()}, nil
}

func (h *healthLoop) run(ctx context.Context) {
	defer h.scanner.Close()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		h.sup.lastTick.Store(now.UnixNano())
		timer.Reset(time.Until(h.tick(now)))
	}
}

// tick scans the children that are due and returns when the next one is.
func (h *healthLoop) tick(now time.Time) time.Time {
	children := h.sup.childList()
	var targets []health.Target
	byName := map[string]*child{}
	next := now.Add(time.Second)
	var stamp time.Time // the due time the Scan stands for (cadence.Stamp)
	for _, c := range children {
		state, pid := c.statePID()
		hs := c.healthSpec()
		if !hs.Enabled() {
			continue
		}
		if state != Running || pid == 0 {
			h.scanner.Forget(c.name)
			delete(h.pids, c.name)
			delete(h.due, c.name)
			delete(h.leaves, c.name)
			if state == Starting {
				// Look again soon: the first scan should follow the
				// start grace closely, not a whole interval later.
				next = earliest(next, now.Add(100*time.Millisecond))
			}
			continue
		}
		due, ok := h.due[c.name]
		if !ok {
			// Running since the last look: first scan with the next Scan
			// of its interval, or with this one, when this tick is that
			// of its interval (a tick runs a little after its due time).
			due = cadence.First(h.base, hs.Interval, now.Add(-cadence.Slack(hs.Interval)))
			h.due[c.name] = due
		}
		if now.Before(due) {
			next = earliest(next, due)
			continue
		}
		if h.pids[c.name] != pid {
			h.scanner.Forget(c.name)
			h.pids[c.name] = pid
		}
		h.due[c.name] = cadence.Next(due, hs.Interval, now)
		next = earliest(next, h.due[c.name])
		if st := cadence.Stamp(due, hs.Interval, now); st.After(stamp) {
			stamp = st
		}
		leaf := h.leafOf(c, pid)
		ids, walk := c.healthIDs()
		targets = append(targets, health.Target{Name: c.name, PID: pid, Descendants: true, Policy: hs.Policy, Interval: hs.Interval,
			Cgroup: leaf.id, CgroupDir: leaf.dir, CgroupOnly: !walk, Cgroups: ids})
		byName[c.name] = c
	}
	if len(targets) == 0 {
		return next
	}
	before := h.scanner.Stats()
	results := h.scanner.ScanAt(targets, stamp)
	took := time.Since(now)
	h.report(before, took)
	for _, r := range results {
		c := byName[r.Name]
		c.update(func(s *ChildStatus) { s.Health, s.HealthAt = r, now })
		if r.Verdict != nil {
			c.tell(verdict{pid: h.pids[r.Name], evidence: r.Verdict})
		}
	}
	h.sup.correlate(results, now)
	return next
}

// earliest returns the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// leafOf returns the cgroup of the child's live process pid, reading its
// id once per process. With it the Scanner judges every process of the
// cgroup and gives the child the CLOSE_WAIT sockets carrying the id,
// without reading fd tables; without it (cgroup = "off", or no writable
// hierarchy) the child is judged by its process tree and fd walks. The
// target is CgroupOnly: the child was created in a fresh leaf and
// inherits no socket from resreap but the listening sockets resreap
// holds for it, made in its sockets leaf, whose id the target has too
// (see healthIDs).
func (h *healthLoop) leafOf(c *child, pid int) leafRef {
	if r, ok := h.leaves[c.name]; ok && r.pid == pid {
		return r
	}
	p := c.liveProcess()
	r := leafRef{pid: pid}
	if p == nil || !c.isMain(p, pid) {
		return r // the snapshot and the process disagree for now: ask again next time
	}
	if p.Cgroup() != (cgroup.Group{}) && h.socketIDs {
		id, err := p.Cgroup().ID()
		if err != nil {
			// Judged by its process tree instead; the next process of
			// the child tries again.
			c.log.Warn().Err(err).Str("cgroup", p.Cgroup().Path()).Msg("cgroup id unreadable: CLOSE_WAIT owners will be found by fd walks")
		} else {
			r.id, r.dir = id, p.Cgroup().Dir()
		}
	}
	h.leaves[c.name] = r
	return r
}

// report tells Options.OnScan of the Scan that began with the scanner's
// stats at before and took took.
func (h *healthLoop) report(before health.Stats, took time.Duration) {
	if h.sup.opts.OnScan == nil {
		return
	}
	after := h.scanner.Stats()
	r := ScanReport{Reader: h.scanner.Reader(), Took: took, FDTables: after.FDTables - before.FDTables}
	if n := after.ReadErrors - before.ReadErrors; n > 0 {
		r.Err = fmt.Errorf("%d socket dumps failed", n)
	}
	h.sup.opts.OnScan(r)
}

// verdict is a health verdict about one process of a child.
type verdict struct {
	pid      int
	evidence *health.Evidence
}

// tell hands a verdict to the child without waiting. A child busy with a
// hook or a stop keeps at most one pending verdict (the newest is dropped
// while one waits); unhealthy ignores a verdict about a process that is no
// longer the child's, and the next scan judges again anyway.
func (c *child) tell(v verdict) {
	select {
	case c.verdicts <- v:
	default:
		c.log.Debug().Msg("health verdict not queued: one is pending")
	}
}

// childList returns the current children sorted by name.
func (s *Supervisor) childList() []*child {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*child, 0, len(s.children))
	for _, c := range s.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
