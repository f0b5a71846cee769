//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/fleet/link"
	"github.com/resreap/resreap/internal/history"
)

// The fleet: with a [fleet] table, resreap runs a fleet agent
// (resreap-fleet agent, fleet_agent.go) that holds its etcd session, and
// talks to it over a link (package link). The supervisor itself links no
// etcd code and, without [fleet], starts nothing of this: no goroutine,
// no agent, no socket.
//
// What the fleet changes:
//   - a health restart of a member of a fleet group takes a fleet slot
//     after the local budget admitted it (admitRestart); the agent gives
//     the slot back once the member runs (is ready) with a new process;
//   - the members' states are registered fleet-wide (watchMembers);
//   - a verdict's dominant endpoint is published, and an agreement of
//     members on two hosts or more is one correlated record (correlate);
//   - a rolling restart order restarts this host's members when the
//     agent says it is their turn (orderRestart).

// fleetLink is the supervisor's end of the link with its fleet agent.
type fleetLink struct {
	s    *Supervisor
	spec *config.FleetSpec
	log  zerolog.Logger

	cancel context.CancelFunc
	done   sync.WaitGroup

	mu        sync.Mutex
	conn      *link.Conn    // nil while no agent is connected
	connected chan struct{} // closed and replaced at each new connection
	up        bool          // etcd reachable, as the agent last said
	heard     bool          // the agent has said so at least once
	since     time.Time     // when the link was started
	recorded  string        // the last fleet record: "up", "down" or ""
	nextID    uint64
	replies   map[uint64]chan link.Msg
	waitSince map[string]time.Time // group\x00child -> first refused
	slotWaits waitSummary
	watchers  map[string]context.CancelFunc // member watchers by group\x00child
	lastHeld  map[string]int                // slots held by group at the last stats
}

// waitSummary sums the waits for fleet slots, for the metrics.
type waitSummary struct {
	count uint64
	sum   float64
}

// fleetReplyWait bounds a request to the agent: past it, etcd counts as
// unreachable for that request.
const fleetReplyWait = 5 * time.Second

// startFleet starts the fleet link when the config has a [fleet] table;
// without one it does nothing at all.
func (s *Supervisor) startFleet(cfg *config.Config) {
	if cfg.Fleet == nil {
		return
	}
	l := newFleetLink(s, cfg.Fleet)
	s.mu.Lock()
	s.fleet = l
	s.mu.Unlock()
}

// stopFleet ends the link: the agent revokes its lease (this host's
// members and slots go at once) and exits.
func (s *Supervisor) stopFleet() {
	s.mu.Lock()
	l := s.fleet
	s.mu.Unlock()
	if l != nil {
		l.cancel()
		l.done.Wait()
	}
}

func newFleetLink(s *Supervisor, spec *config.FleetSpec) *fleetLink {
	ctx, cancel := context.WithCancel(context.Background())
	l := &fleetLink{s: s, spec: spec, log: s.log.With().Str("component", "fleet").Logger(), cancel: cancel,
		connected: make(chan struct{}), replies: map[uint64]chan link.Msg{}, waitSince: map[string]time.Time{},
		watchers: map[string]context.CancelFunc{}, lastHeld: map[string]int{}, since: time.Now()}
	l.done.Go(func() { l.runAgents(ctx) })
	l.done.Go(func() { l.watchMembers(ctx) })
	return l
}

// hello is the first message to a new agent.
func (l *fleetLink) hello() link.Msg {
	sp := l.spec
	return link.Msg{Type: link.TypeHello, Groups: l.groups(), Settings: &link.Settings{
		Endpoints: sp.Endpoints, CA: sp.CA, Cert: sp.Cert, Key: sp.Key, User: sp.User, Password: sp.Password,
		Prefix: sp.Prefix, Host: sp.Host, LeaseTTL: sp.LeaseTTL,
	}}
}

// groups lists the fleet groups of the current config.
func (l *fleetLink) groups() []link.Group {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	var out []link.Group
	for _, g := range l.s.cfg.Groups {
		if g.Fleet {
			out = append(out, link.Group{Name: g.Name, Members: g.Members, MaxUnavailable: g.FleetMaxUnavailable, Percent: g.FleetPercent})
		}
	}
	return out
}

// setConn records the agent's connection (nil: none); a new one makes
// every member watcher send its state again.
func (l *fleetLink) setConn(c *link.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn = c
	if c == nil {
		l.up = false
		for id, ch := range l.replies {
			close(ch)
			delete(l.replies, id)
		}
		return
	}
	close(l.connected)
	l.connected = make(chan struct{})
}

// send sends m to the agent, if one is connected.
func (l *fleetLink) send(m link.Msg) bool {
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	return c != nil && c.Send(m) == nil
}

// request sends m and waits for the agent's reply; ok false when there is
// no agent, or no reply within fleetReplyWait.
func (l *fleetLink) request(m link.Msg) (link.Msg, bool) {
	ch := make(chan link.Msg, 1)
	l.mu.Lock()
	c := l.conn
	l.nextID++
	m.ID = l.nextID
	if c != nil {
		l.replies[m.ID] = ch
	}
	l.mu.Unlock()
	if c == nil || c.Send(m) != nil {
		l.forget(m.ID)
		return link.Msg{}, false
	}
	t := time.NewTimer(fleetReplyWait)
	defer t.Stop()
	select {
	case r, ok := <-ch:
		return r, ok
	case <-t.C:
		l.forget(m.ID)
		return link.Msg{}, false
	}
}

func (l *fleetLink) forget(id uint64) {
	l.mu.Lock()
	delete(l.replies, id)
	l.mu.Unlock()
}

// read handles what the agent sends until the link ends.
func (l *fleetLink) read(c *link.Conn) error {
	for {
		m, err := c.Recv()
		if err != nil {
			return err
		}
		switch m.Type {
		case link.TypeReply:
			l.mu.Lock()
			ch := l.replies[m.ID]
			delete(l.replies, m.ID)
			l.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case link.TypeConn:
			l.etcdState(m.Up, m.Err)
		case link.TypeCorrelated:
			l.correlated(m)
		case link.TypeOrderRestart:
			l.done.Go(func() { l.orderRestart(m) })
		case link.TypeOrderDone:
			l.orderDone(m)
		}
	}
}

// etcdState records that etcd became reachable or not, once per change.
func (l *fleetLink) etcdState(up bool, why string) {
	l.mu.Lock()
	l.up, l.heard = up, true
	l.mu.Unlock()
	if up {
		l.recordConn("up", "")
		return
	}
	l.mu.Lock()
	was := l.recorded
	l.mu.Unlock()
	if was == "up" {
		l.recordConn("down", why)
	}
}

// recordConn records a change of the link: "up", or "down" and why.
func (l *fleetLink) recordConn(state, why string) {
	l.mu.Lock()
	if l.recorded == state {
		l.mu.Unlock()
		return
	}
	l.recorded = state
	l.mu.Unlock()
	rec := history.Record{Event: history.EventFleet, Fleet: &history.Fleet{Host: l.spec.Host}}
	ev := l.log.Info()
	if state == "up" {
		rec.Message = "etcd reachable: fleet groups restart by the fleet budget"
	} else {
		ev = l.log.Warn()
		rec.Fleet.Fallback = l.spec.Unreachable
		what := "fleet groups restart by the local budget alone (unreachable = local)"
		if l.spec.Unreachable == config.FleetHold {
			what = "health restarts of fleet members wait until it is back (unreachable = hold)"
		}
		rec.Message = "etcd unreachable"
		if why != "" {
			rec.Message += " (" + why + ")"
		}
		rec.Message += ": " + what
	}
	l.s.record(ev, rec)
}

// fleetSlot asks the fleet for a slot for member c of fleet group g,
// whose process pid a health verdict for reason condemned, after the
// local budget admitted the restart. It returns whether the restart may
// go ahead, and otherwise why not, with the fleet context of the record.
// A crash restart never asks (crashes are not held back), and neither
// will a surge restart (a new process started beside the old one before
// the old one stops: nothing is unavailable).
func (l *fleetLink) fleetSlot(c *child, g *config.GroupSpec, pid int, reason history.Reason) (bool, string, *history.Fleet) {
	ctx := &history.Fleet{Host: l.spec.Host}
	key := g.Name + "\x00" + c.name
	l.mu.Lock()
	up := l.up && l.conn != nil
	first := !l.heard && time.Since(l.since) < l.firstContactWait()
	l.mu.Unlock()
	if first {
		// Not unreachable yet, only not known: a resreap starting on
		// every host at once (a reboot, a deploy) must not restart by
		// the local budget alone before its agent has had a chance.
		return false, fmt.Sprintf("group %s: waiting for the fleet agent's first answer from etcd (at most %s, then [fleet] unreachable = %s applies)",
			g.Name, l.firstContactWait(), l.spec.Unreachable), ctx
	}
	var r link.Msg
	ok := false
	if up {
		r, ok = l.request(link.Msg{Type: link.TypeAcquire, Group: g.Name, Child: c.name, Why: string(reason),
			Member: &link.Member{Child: c.name, PID: pid}})
	}
	if !ok || r.Unreachable || r.Err != "" {
		if r.Err != "" && !r.Unreachable {
			l.log.Warn().Str("child", c.name).Str("err", r.Err).Msg("fleet slot request failed")
		}
		l.recordConn("down", r.Err)
		ctx.Fallback = l.spec.Unreachable
		if l.spec.Unreachable == config.FleetHold {
			return false, fmt.Sprintf("group %s: etcd unreachable, and unreachable = hold", g.Name), ctx
		}
		return true, "", ctx
	}
	ctx.Slots = r.Slots
	now := time.Now()
	if r.OK {
		l.mu.Lock()
		if since, waited := l.waitSince[key]; waited {
			l.slotWaits.count++
			l.slotWaits.sum += now.Sub(since).Seconds()
			delete(l.waitSince, key)
		} else {
			l.slotWaits.count++
		}
		l.mu.Unlock()
		return true, "", ctx
	}
	l.mu.Lock()
	if _, waited := l.waitSince[key]; !waited {
		l.waitSince[key] = now
	}
	l.mu.Unlock()
	for _, h := range r.Holders {
		ctx.Holders = append(ctx.Holders, h.String())
	}
	return false, fmt.Sprintf("group %s: fleet budget of %d spent: %s", g.Name, r.Slots, strings.Join(ctx.Holders, ", ")), ctx
}

// firstContactWait bounds how long, after resreap starts, health restarts
// of fleet members wait for the agent's first word on etcd before
// [fleet] unreachable applies: a lease's life and one request.
func (l *fleetLink) firstContactWait() time.Duration {
	return l.spec.LeaseTTL + fleetReplyWait
}

// releaseSlot gives back the slot of member c, whose restart did not
// happen (a veto).
func (l *fleetLink) releaseSlot(c *child, group string) {
	l.send(link.Msg{Type: link.TypeRelease, Group: group, Child: c.name})
}

// verdict publishes a member's dominant endpoint for the fleet-wide
// correlation.
func (l *fleetLink) verdict(group, child, endpoint string, window time.Duration) {
	l.send(link.Msg{Type: link.TypeVerdict, Group: group, Child: child, Endpoint: endpoint, Window: window})
}

// up reports whether the fleet is reachable now.
func (l *fleetLink) reachable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up && l.conn != nil
}

// correlated records a fleet-wide agreement.
func (l *fleetLink) correlated(m link.Msg) {
	l.s.record(l.log.Warn().Str("group", m.Group).Str("endpoint", m.Endpoint), history.Record{
		Event: history.EventCorrelated, Reason: history.ReasonCloseWait, Group: m.Group, Endpoint: m.Endpoint, Members: m.Members,
		Fleet:   &history.Fleet{Host: l.spec.Host, Hosts: m.Hosts},
		Message: fmt.Sprintf("members on %d hosts (%s) hold CLOSE_WAIT sockets to %s: probably that upstream, not the processes", len(m.Hosts), strings.Join(m.Hosts, ", "), m.Endpoint),
	})
}

// orderRestart restarts a member for a rolling restart order: the agent
// holds a slot for it, and ends the order's step once the member runs
// with a new process.
func (l *fleetLink) orderRestart(m link.Msg) {
	if m.Order == nil {
		return
	}
	ack := link.Msg{Type: link.TypeOrderAck, Group: m.Group, Child: m.Child, OK: true}
	fctx := &history.Fleet{Host: l.spec.Host, Order: m.Order.ID}
	c := l.s.child(m.Child)
	msg := fmt.Sprintf("order %s: restarting %s", m.Order.ID, m.Child)
	if m.Order.Reason != "" {
		msg += " (" + m.Order.Reason + ")"
	}
	if c == nil {
		ack.OK, ack.Err = false, "no such child"
	} else {
		l.s.record(l.log.Info().Str("order", m.Order.ID), history.Record{Child: m.Child, Event: history.EventOrder,
			Reason: history.ReasonOrder, Group: m.Group, Message: msg, Fleet: fctx})
		if _, err := c.call(l.s.runCtx, request{kind: reqRestart, reason: history.ReasonOrder}); err != nil {
			if l.s.runCtx.Err() != nil {
				// Shutdown: the member restarts with the next resreap,
				// whose agent finds it marked restarting and ends the
				// step once it runs; it is never restarted twice.
				return
			}
			ack.OK, ack.Err = false, err.Error()
		}
	}
	l.send(ack)
}

// orderDone records the end of a member's step of an order.
func (l *fleetLink) orderDone(m link.Msg) {
	id := ""
	if m.Order != nil {
		id = m.Order.ID
	}
	msg := fmt.Sprintf("order %s: %s %s", id, m.Child, m.State)
	if m.Err != "" {
		msg += ": " + m.Err
	}
	ev := l.log.Info()
	if m.State != "done" {
		ev = l.log.Warn()
	}
	l.s.record(ev.Str("order", id), history.Record{Child: m.Child, Event: history.EventOrder, Reason: history.ReasonOrder,
		Group: m.Group, Message: msg, Fleet: &history.Fleet{Host: l.spec.Host, Order: id}})
}

// watchMembers keeps one watcher per member of a fleet group, checking
// every second for members added or removed by a reload.
func (l *fleetLink) watchMembers(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var sent []link.Group
	for {
		want := map[string]*child{}
		groups := l.groups()
		if sent != nil && !reflect.DeepEqual(groups, sent) && l.send(link.Msg{Type: link.TypeGroups, Groups: groups}) {
			sent = groups // a reload changed the fleet groups
		} else if sent == nil {
			sent = groups // the agent's hello had them
		}
		for _, g := range groups {
			for _, name := range g.Members {
				if c := l.s.child(name); c != nil {
					want[g.Name+"\x00"+name] = c
				}
			}
		}
		l.mu.Lock()
		for key, stop := range l.watchers {
			if _, ok := want[key]; !ok {
				stop()
				delete(l.watchers, key)
			}
		}
		for key, c := range want {
			if _, ok := l.watchers[key]; ok {
				continue
			}
			wctx, stop := context.WithCancel(ctx)
			l.watchers[key] = stop
			group, _, _ := strings.Cut(key, "\x00")
			l.done.Go(func() { l.watchMember(wctx, c, group) })
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// watchMember sends member c's state to the agent at each change, and
// again to each new agent; "gone" when the watch ends for a reload.
func (l *fleetLink) watchMember(ctx context.Context, c *child, group string) {
	var last link.Member
	for {
		c.mu.Lock()
		st, changed := c.snap, c.changed
		c.mu.Unlock()
		l.mu.Lock()
		connected := l.connected
		l.mu.Unlock()
		m := link.Member{Child: c.name, State: strings.ToLower(st.State.String()), PID: st.PID, Ready: st.State == Running,
			Reason: string(st.LastReason), Since: st.Since.UTC()}
		if m != last && l.send(link.Msg{Type: link.TypeMember, Group: group, Child: c.name, Member: &m}) {
			last = m
		}
		select {
		case <-changed:
		case <-connected:
			last = link.Member{}
		case <-c.done:
			l.send(link.Msg{Type: link.TypeMember, Group: group, Child: c.name, Member: &link.Member{Child: c.name, State: "gone"}})
			return
		case <-ctx.Done():
			if l.s.isClosing() {
				return // the agent revokes the lease: every member goes
			}
			l.send(link.Msg{Type: link.TypeMember, Group: group, Child: c.name, Member: &link.Member{Child: c.name, State: "gone"}})
			return
		}
	}
}

// FleetStats is the fleet as this resreap sees it, for the metrics.
type FleetStats struct {
	Up         bool
	EtcdErrors int64
	// SlotWaits counts the slots taken, and SlotWaitSeconds the time
	// their restarts waited for them.
	SlotWaits       uint64
	SlotWaitSeconds float64
	Groups          []link.GroupStats
}

// FleetStats asks the agent for its figures; ok is false without
// [fleet]. Before Run has started the link, the figures are zero.
func (s *Supervisor) FleetStats() (FleetStats, bool) {
	s.mu.Lock()
	l, on := s.fleet, s.cfg.Fleet != nil
	s.mu.Unlock()
	if l == nil {
		return FleetStats{}, on
	}
	l.mu.Lock()
	st := FleetStats{SlotWaits: l.slotWaits.count, SlotWaitSeconds: l.slotWaits.sum}
	l.mu.Unlock()
	if r, ok := l.request(link.Msg{Type: link.TypeStats}); ok && r.Stats != nil {
		st.Up, st.EtcdErrors, st.Groups = r.Stats.Up, r.Stats.EtcdErrors, r.Stats.Groups
	}
	return st, true
}
