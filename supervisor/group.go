//go:build linux

package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

// groups keeps what the restart budget and the correlation of the
// [[group]]s need between scans.
type groups struct {
	mu sync.Mutex
	// granted holds the health restarts under way in each group: member ->
	// the PID it was granted for. A grant counts as one member down from
	// the moment it is given (the member is still Running, about to be
	// stopped) until the member runs again with another PID.
	granted map[string]map[string]int
	// waiting holds the members whose restart is deferred: first in,
	// first restarted, so a member that keeps being judged unhealthy
	// cannot be overtaken for ever by those restarted before it.
	waiting map[string]map[string]waiter
	// seen is when each member was last found unhealthy, by the dominant
	// foreign endpoint of its CLOSE_WAIT sockets; reported the endpoint a
	// correlated event was recorded for, while it lasts.
	seen     map[string]map[string]time.Time
	reported map[string]string
	held     map[string]time.Time // when the members last agreed

	// surging holds the members surging now, by group (see admitSurge).
	surging map[string]map[string]bool
}

// correlationQuiet is how many correlation windows the members of a group
// must stop agreeing on an endpoint before a new agreement is a new
// incident, recorded again.
const correlationQuiet = 20

// waiter is a member waiting for the budget: since when, for which
// process, and when it was last judged unhealthy (a member no longer
// judged so stops waiting).
type waiter struct {
	pid         int
	since, seen time.Time
}

func newGroups() *groups {
	return &groups{granted: map[string]map[string]int{}, waiting: map[string]map[string]waiter{},
		seen: map[string]map[string]time.Time{}, reported: map[string]string{}, held: map[string]time.Time{}}
}

// groupOf returns the group of child name in the current config, or nil.
func (s *Supervisor) groupOf(name string) *config.GroupSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.cfg.GroupOf(name); g != nil {
		cp := *g
		return &cp
	}
	return nil
}

// admitRestart asks the group budget whether c may restart its process
// pid for a health verdict for reason now. A child in no group always
// may. Otherwise it may while fewer than the group's max_unavailable
// members are down (not Running, or granted a restart they have not
// finished), and no other member has waited longer for the budget; and,
// in a fleet group, once the fleet gave it a slot (see fleetSlot). When
// it may not, why says which members are down, or which waits ahead, or
// who holds the fleet's slots. fl is the fleet context of the record, nil
// outside a fleet group.
//
// The local budget is asked first, under its lock; the fleet after, out
// of it: no etcd call when the local budget says no anyway, and no
// restart of another member waits for etcd's answer about this one.
func (s *Supervisor) admitRestart(c *child, pid int, reason history.Reason) (ok bool, g *config.GroupSpec, why string, fl *history.Fleet) {
	g = s.groupOf(c.name)
	if g == nil {
		return true, nil, "", nil
	}
	if c.spec.Surge() {
		// A surge keeps the member up: no slot of max_unavailable, nor
		// of a fleet budget; max_surge only.
		ok, why := s.admitSurge(c, g)
		return ok, g, why, nil
	}
	ok, why, since := s.admitLocal(c, g, pid)
	s.mu.Lock()
	l := s.fleet
	s.mu.Unlock()
	if !ok || !g.Fleet || l == nil {
		return ok, g, why, nil
	}
	ok, why, fl = l.fleetSlot(c, g, pid, reason)
	if !ok {
		// Not granted after all: back in the local queue, in its place.
		s.groups.mu.Lock()
		delete(s.groups.granted[g.Name], c.name)
		s.groups.waiting[g.Name][c.name] = waiter{pid: pid, since: since, seen: time.Now()}
		s.groups.mu.Unlock()
	}
	return ok, g, why, fl
}

// admitLocal is the local budget of admitRestart; since is when c began
// to wait for it.
func (s *Supervisor) admitLocal(c *child, g *config.GroupSpec, pid int) (ok bool, why string, since time.Time) {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	granted := s.groups.granted[g.Name]
	if granted == nil {
		granted = map[string]int{}
		s.groups.granted[g.Name] = granted
	}
	var down []string
	for _, m := range g.Members {
		if m == c.name {
			continue
		}
		mc := s.child(m)
		if mc == nil {
			delete(granted, m)
			continue
		}
		st := mc.status()
		gpid, isGranted := granted[m]
		switch {
		case isGranted && st.State == Running && st.PID != gpid:
			delete(granted, m) // restarted and running again
		case isGranted:
			down = append(down, m+" (restarting)")
			continue
		}
		if st.State != Running {
			down = append(down, fmt.Sprintf("%s (%s)", m, strings.ToLower(st.State.String())))
		}
	}
	now := time.Now()
	waiting := s.groups.waiting[g.Name]
	if waiting == nil {
		waiting = map[string]waiter{}
		s.groups.waiting[g.Name] = waiting
	}
	me, ok := waiting[c.name]
	if !ok || me.pid != pid {
		me = waiter{pid: pid, since: now}
	}
	me.seen = now
	waiting[c.name] = me
	stale := 3 * c.healthSpec().Interval
	var ahead string
	for m, w := range waiting {
		mc := s.child(m)
		switch {
		case m == c.name:
		case mc == nil, mc.status().PID != w.pid, now.Sub(w.seen) > stale:
			delete(waiting, m) // restarted, gone, or no longer judged unhealthy
		case w.since.Before(me.since) || (w.since.Equal(me.since) && m < c.name):
			if ahead == "" || w.since.Before(waiting[ahead].since) {
				ahead = m
			}
		}
	}
	budget := g.Budget()
	if len(down) >= budget {
		return false, fmt.Sprintf("group %s: %d of %d members down, max_unavailable %d: %s",
			g.Name, len(down), len(g.Members), budget, strings.Join(down, ", ")), me.since
	}
	if ahead != "" {
		return false, fmt.Sprintf("group %s: %s has waited longer (unhealthy since %s)",
			g.Name, ahead, waiting[ahead].since.Format("15:04:05")), me.since
	}
	delete(waiting, c.name)
	granted[c.name] = pid
	return true, "", me.since
}

// releaseRestart gives back c's grant, and its fleet slot, when the
// restart did not happen (the hook vetoed it).
func (s *Supervisor) releaseRestart(c *child) {
	s.groups.mu.Lock()
	for _, granted := range s.groups.granted {
		delete(granted, c.name)
	}
	for _, waiting := range s.groups.waiting {
		delete(waiting, c.name)
	}
	for _, surging := range s.groups.surging {
		delete(surging, c.name)
	}
	s.groups.mu.Unlock()
	s.mu.Lock()
	l := s.fleet
	s.mu.Unlock()
	if g := s.groupOf(c.name); g != nil && g.Fleet && l != nil {
		l.releaseSlot(c, g.Name)
	}
}

// correlate looks at the verdicts of one scan for each group: when most
// of a group's members (more than half, at least two) were found leaking
// CLOSE_WAIT sockets to the same dominant foreign endpoint within one
// health interval, it records one correlated event naming the endpoint:
// the upstream is the likely cause, not the processes. It is recorded
// again only after the group stopped agreeing on that endpoint for
// correlationQuiet windows.
//
// A fleet group's verdicts are published for the fleet-wide correlation
// instead (see fleetLink.correlated), which records the incident on
// every host; this one records it only while etcd is unreachable.
func (s *Supervisor) correlate(results []health.Result, now time.Time) {
	s.mu.Lock()
	gs := slices.Clone(s.cfg.Groups)
	l := s.fleet
	s.mu.Unlock()
	if len(gs) == 0 {
		return
	}
	type published struct {
		group, child, endpoint string
		window                 time.Duration
	}
	var pub []published
	defer func() { // after the lock: a send may wait for the agent
		for _, p := range pub {
			l.verdict(p.group, p.child, p.endpoint, p.window)
		}
	}()
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	for _, g := range gs {
		seen := s.groups.seen[g.Name]
		if seen == nil {
			seen = map[string]time.Time{}
			s.groups.seen[g.Name] = seen
		}
		window := time.Second
		for _, r := range results {
			if !slices.Contains(g.Members, r.Name) {
				continue
			}
			if c := s.child(r.Name); c != nil {
				iv := c.healthSpec().Interval
				window = max(window, iv+iv/2)
			}
			if ep := dominantEndpoint(r.Verdict); ep != "" {
				seen[r.Name+"\x00"+ep] = now
				if g.Fleet && l != nil {
					pub = append(pub, published{g.Name, r.Name, ep, window})
				}
			}
		}
		byEndpoint := map[string][]string{}
		for k, t := range seen {
			if now.Sub(t) > window {
				delete(seen, k)
				continue
			}
			member, ep, _ := strings.Cut(k, "\x00")
			byEndpoint[ep] = append(byEndpoint[ep], member)
		}
		best, members := "", []string(nil)
		for ep, ms := range byEndpoint {
			if len(ms) > len(members) || (len(ms) == len(members) && ep < best) {
				best, members = ep, ms
			}
		}
		if len(members) < 2 || 2*len(members) <= len(g.Members) {
			// The incident is over once the members stopped agreeing
			// for a while; a lull while they are restarted one by one
			// is not the end of it.
			if now.Sub(s.groups.held[g.Name]) > correlationQuiet*window {
				delete(s.groups.reported, g.Name)
			}
			continue
		}
		s.groups.held[g.Name] = now
		if s.groups.reported[g.Name] == best || (g.Fleet && l != nil && l.reachable()) {
			continue
		}
		s.groups.reported[g.Name] = best
		slices.Sort(members)
		s.record(s.log.Warn().Str("group", g.Name).Str("endpoint", best), history.Record{
			Event: history.EventCorrelated, Reason: history.ReasonCloseWait, Group: g.Name, Endpoint: best, Members: members,
			Message: fmt.Sprintf("%d of %d members hold CLOSE_WAIT sockets to %s: probably that upstream, not the processes",
				len(members), len(g.Members), best),
		})
	}
}

// dominantEndpoint is the foreign endpoint most of a CLOSE_WAIT verdict's
// sockets lead to ("" for another verdict, or when none holds a
// majority).
func dominantEndpoint(ev *health.Evidence) string {
	if ev == nil || ev.Reason != health.ReasonCloseWait || len(ev.ByForeign) == 0 {
		return ""
	}
	best, n, total := "", 0, 0
	for ep, k := range ev.ByForeign {
		total += k
		if k > n || (k == n && ep < best) {
			best, n = ep, k
		}
	}
	if 2*n <= total {
		return ""
	}
	return best
}
