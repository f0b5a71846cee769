//go:build linux

package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/resreap/resreap/internal/fleet/link"
)

// agent serves one resreap over its link: it registers the members
// resreap tells it of, answers slot requests, publishes verdicts and
// tells resreap of fleet-wide correlations and of the order restarts
// that are its members' turn.
type agent struct {
	f    *Fleet
	conn *link.Conn
	log  zerolog.Logger

	mu       sync.Mutex
	groups   map[string]link.Group
	loops    map[string]context.CancelFunc
	members  map[string]link.Member // group\x00child -> latest state
	dirty    map[string]bool        // members to put
	inflight map[string]orderRun    // group\x00child -> order restart begun here
	lastPub  map[string]verdict     // group\x00child -> last verdict published
	wake     chan struct{}          // the member writer has work

	wg sync.WaitGroup
}

// orderRun is an order restart begun by this agent: the order, and the
// process it began with.
type orderRun struct {
	order string
	pid   int
}

// ErrNoHello is a link whose first message is not a hello.
var ErrNoHello = errors.New("fleet agent: the link did not begin with a hello")

// Serve runs the fleet agent on conn until conn closes or ctx ends: the
// first message must be resreap's Hello, with the [fleet] settings and
// the fleet groups. The lease is revoked at the end, so that a resreap
// that stops frees its slots at once.
func Serve(ctx context.Context, conn *link.Conn, log zerolog.Logger) error {
	hello, err := conn.Recv()
	if err != nil {
		return fmt.Errorf("fleet agent: %w", err)
	}
	if hello.Type != link.TypeHello || hello.Settings == nil {
		return ErrNoHello
	}
	a := &agent{conn: conn, log: log, groups: map[string]link.Group{}, loops: map[string]context.CancelFunc{},
		members: map[string]link.Member{}, dirty: map[string]bool{}, inflight: map[string]orderRun{},
		lastPub: map[string]verdict{}, wake: make(chan struct{}, 1)}
	f, err := Open(*hello.Settings, log, a.onConn)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.f = f
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		a.wg.Wait()
		f.Close()
	}()
	a.wg.Go(func() { a.writeMembers(ctx) })
	a.setGroups(ctx, hello.Groups)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	for {
		m, err := conn.Recv()
		if err != nil {
			if link.IsEOF(err) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		a.handle(ctx, m)
	}
}

// onConn tells resreap that etcd became reachable or not.
func (a *agent) onConn(up bool, why error) {
	m := link.Msg{Type: link.TypeConn, Up: up}
	if why != nil {
		m.Err = why.Error()
	}
	a.send(m)
}

func (a *agent) send(m link.Msg) {
	if err := a.conn.Send(m); err != nil {
		a.log.Debug().Err(err).Str("type", m.Type).Msg("fleet agent: not sent")
	}
}

func (a *agent) handle(ctx context.Context, m link.Msg) {
	key := m.Group + "\x00" + m.Child
	switch m.Type {
	case link.TypeGroups:
		a.setGroups(ctx, m.Groups)
	case link.TypeMember:
		if m.Member == nil {
			return
		}
		a.mu.Lock()
		a.members[key], a.dirty[key] = *m.Member, true
		a.mu.Unlock()
		select {
		case a.wake <- struct{}{}:
		default:
		}
	case link.TypeAcquire:
		a.wg.Go(func() { a.acquire(ctx, m) })
	case link.TypeRelease:
		a.wg.Go(func() {
			if err := a.f.Release(ctx, m.Group, m.Child); err != nil {
				a.log.Warn().Err(err).Str("child", m.Child).Msg("fleet agent: slot not released; it goes with the lease")
			}
		})
	case link.TypeVerdict:
		a.wg.Go(func() { a.publish(ctx, m) })
	case link.TypeStats:
		a.wg.Go(func() { a.stats(ctx, m.ID) })
	case link.TypeOrderAck:
		if !m.OK {
			a.wg.Go(func() { a.endOrder(ctx, m.Group, m.Child, MarkFailed, m.Err) })
		}
	}
}

// acquire answers an Acquire request.
func (a *agent) acquire(ctx context.Context, m link.Msg) {
	reply := link.Msg{Type: link.TypeReply, ID: m.ID, Group: m.Group, Child: m.Child}
	a.mu.Lock()
	g, ok := a.groups[m.Group]
	a.mu.Unlock()
	pid := 0
	if m.Member != nil {
		pid = m.Member.PID
	}
	if !ok {
		reply.Err = fmt.Sprintf("group %s is not a fleet group here", m.Group)
		a.send(reply)
		return
	}
	grant, err := a.f.Acquire(ctx, m.Group, m.Child, pid, Budget{N: g.MaxUnavailable, Percent: g.Percent}, m.Why)
	switch {
	case errors.Is(err, ErrUnreachable):
		reply.Unreachable, reply.Err = true, err.Error()
	case err != nil:
		reply.Err = err.Error()
	default:
		reply.OK, reply.Holders, reply.Slots = grant.OK, grant.Holders, grant.Budget
	}
	a.send(reply)
}

// writeMembers puts the members whose state changed, one at a time,
// newest state only; and gives back the slot of a member running again
// with a new process, and ends its order restart.
func (a *agent) writeMembers(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-tick.C:
		}
		a.mu.Lock()
		var todo []string
		for k := range a.dirty {
			todo = append(todo, k)
		}
		a.mu.Unlock()
		for _, k := range todo {
			a.mu.Lock()
			m := a.members[k]
			delete(a.dirty, k)
			a.mu.Unlock()
			group, _, _ := strings.Cut(k, "\x00")
			if err := a.f.Register(ctx, group, m); err != nil && !errors.Is(err, ErrUnreachable) {
				a.log.Warn().Err(err).Str("child", m.Child).Msg("fleet agent: member not registered")
			}
			a.settle(ctx, group, m)
		}
	}
}

// settle gives back what a member holds once it runs again with a new
// process: the slot of its health restart, or its order restart's slot
// with the order marked done.
func (a *agent) settle(ctx context.Context, group string, m link.Member) {
	key := group + "\x00" + m.Child
	a.mu.Lock()
	run, inOrder := a.inflight[key]
	a.mu.Unlock()
	switch {
	case inOrder && m.State == "running" && m.PID != run.pid:
		a.endOrder(ctx, group, m.Child, MarkDone, "")
	case inOrder:
	case m.State == StateGone || m.State == "stopped":
		// Removed by a reload, or stopped by an operator: down on
		// purpose, no longer a restart under way.
		if err := a.f.Release(ctx, group, m.Child); err != nil {
			a.log.Warn().Err(err).Str("child", m.Child).Msg("fleet agent: slot not released")
		}
	default:
		if pid, held := a.f.heldPID(group, m.Child); held && m.State == "running" && m.PID != pid {
			if err := a.f.Release(ctx, group, m.Child); err != nil {
				a.log.Warn().Err(err).Str("child", m.Child).Msg("fleet agent: slot not released; retried with the next state")
				a.mu.Lock()
				a.dirty[key] = true
				a.mu.Unlock()
			}
		}
	}
}

// endOrder ends the order restart of child begun here: done or failed,
// its slot given back, resreap told.
func (a *agent) endOrder(ctx context.Context, group, child, state, why string) {
	key := group + "\x00" + child
	a.mu.Lock()
	run, ok := a.inflight[key]
	a.mu.Unlock()
	if !ok {
		return
	}
	if err := a.f.endOrder(ctx, group, run.order, child, state, why); err != nil {
		a.log.Warn().Err(err).Str("child", child).Msg("fleet agent: order restart not marked; retried with the next state")
		a.mu.Lock()
		a.dirty[key] = true
		a.mu.Unlock()
		return
	}
	a.mu.Lock()
	delete(a.inflight, key)
	a.mu.Unlock()
	a.send(link.Msg{Type: link.TypeOrderDone, Group: group, Child: child, Order: &link.Order{ID: run.order}, State: state, Err: why})
}

// publish puts a verdict's endpoint for the fleet's correlation: again
// when it changed, or half its window after the last.
func (a *agent) publish(ctx context.Context, m link.Msg) {
	key := m.Group + "\x00" + m.Child
	now := time.Now()
	a.mu.Lock()
	last, ok := a.lastPub[key]
	if ok && last.Endpoint == m.Endpoint && now.Sub(last.At) < m.Window/2 {
		a.mu.Unlock()
		return
	}
	a.lastPub[key] = verdict{Endpoint: m.Endpoint, At: now}
	a.mu.Unlock()
	if err := a.f.Publish(ctx, m.Group, m.Child, m.Endpoint, m.Window); err != nil {
		a.mu.Lock()
		delete(a.lastPub, key)
		a.mu.Unlock()
	}
}

// stats answers a Stats request.
func (a *agent) stats(ctx context.Context, id uint64) {
	up, _ := a.f.Up()
	st := &link.Stats{Up: up, EtcdErrors: a.f.Errors(), LeaseGrants: a.f.Grants()}
	a.mu.Lock()
	groups := slices.Sorted(maps.Keys(a.groups))
	a.mu.Unlock()
	for _, g := range groups {
		gs := link.GroupStats{Group: g, SlotsHeld: a.f.Held(g), ByState: map[string]int{}}
		if up {
			if ms, err := a.f.Members(ctx, g); err == nil {
				for _, m := range ms {
					gs.ByState[m.State]++
				}
			}
		}
		st.Groups = append(st.Groups, gs)
	}
	a.send(link.Msg{Type: link.TypeReply, ID: id, Stats: st})
}

// setGroups starts a loop for each new fleet group and ends those of the
// groups gone.
func (a *agent) setGroups(ctx context.Context, gs []link.Group) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := map[string]bool{}
	for _, g := range gs {
		keep[g.Name] = true
		a.groups[g.Name] = g
		if _, running := a.loops[g.Name]; running {
			continue
		}
		gctx, cancel := context.WithCancel(ctx)
		a.loops[g.Name] = cancel
		a.wg.Go(func() { a.groupLoop(gctx, g.Name) })
	}
	for name, cancel := range a.loops {
		if !keep[name] {
			cancel()
			delete(a.loops, name)
			delete(a.groups, name)
		}
	}
}

// groupLoop watches one fleet group's keys: at each change (and every
// second, for verdicts ageing out), it looks for a fleet-wide agreement
// and for this host's next order restarts.
func (a *agent) groupLoop(ctx context.Context, group string) {
	w := a.f.cli.Watch(clientv3.WithRequireLeader(ctx), keys{a.f.cfg.Prefix}.group(group), clientv3.WithPrefix())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	c := correlation{}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w:
			if !ok {
				// The watch ended (etcd lost its leader, or went away):
				// watch again, the ticker keeping the loop going.
				if !sleepCtx(ctx, 200*time.Millisecond) {
					return
				}
				w = a.f.cli.Watch(clientv3.WithRequireLeader(ctx), keys{a.f.cfg.Prefix}.group(group), clientv3.WithPrefix())
			}
		case <-tick.C:
		}
		if up, _ := a.f.Up(); !up {
			continue
		}
		a.correlate(ctx, group, &c)
		a.order(ctx, group)
	}
}

// correlation is one group's fleet-wide incident: the endpoint reported,
// and when the hosts last agreed on it.
type correlation struct {
	reported string
	held     time.Time
}

// correlationQuiet is how long, in verdict windows, the hosts must stop
// agreeing before a new agreement is a new incident (as locally).
const correlationQuiet = 20

func (a *agent) correlate(ctx context.Context, group string, c *correlation) {
	now := time.Now()
	ag, ok, err := a.f.Agree(ctx, group, now)
	if err != nil {
		return
	}
	if !ok {
		if c.reported != "" && now.Sub(c.held) > correlationQuiet*3*time.Second {
			c.reported = ""
		}
		return
	}
	c.held = now
	if c.reported == ag.Endpoint {
		return
	}
	c.reported = ag.Endpoint
	a.send(link.Msg{Type: link.TypeCorrelated, Group: group, Endpoint: ag.Endpoint, Hosts: ag.Hosts, Members: ag.Members})
}

// order begins this host's next restarts of group's order while slots
// are free, in member order, and ends those a previous agent began.
func (a *agent) order(ctx context.Context, group string) {
	o, rev, marks, err := a.f.Order(ctx, group)
	if err != nil || o == nil {
		return
	}
	a.mu.Lock()
	local := slices.Clone(a.groups[group].Members)
	a.mu.Unlock()
	slices.Sort(local)
	host := a.f.cfg.Host
	for _, child := range local {
		key := group + "\x00" + child
		a.mu.Lock()
		m, known := a.members[key]
		_, inflight := a.inflight[key]
		a.mu.Unlock()
		mark, marked := marks[host+"/"+child]
		switch {
		case inflight || !known:
			continue
		case marked && mark.State == MarkRestarting:
			// Begun by an agent before this one (resreap restarted
			// since, and its children with it): done once the member
			// runs with another process than the one it began with.
			if m.State == "running" && m.PID != mark.PID {
				a.mu.Lock()
				a.inflight[key] = orderRun{order: o.ID, pid: mark.PID}
				a.mu.Unlock()
				a.endOrder(ctx, group, child, MarkDone, "")
			}
			continue
		case marked:
			continue
		case m.State != "running":
			continue // its turn comes when it runs
		}
		if _, held := a.f.HeldBy(group, child); held {
			continue // a health restart under way
		}
		grant, err := a.f.beginOrder(ctx, group, *o, rev, child, m.PID)
		if err != nil || !grant.OK {
			return // no slot free now: the next change tries again
		}
		a.mu.Lock()
		a.inflight[key] = orderRun{order: o.ID, pid: m.PID}
		a.mu.Unlock()
		a.send(link.Msg{Type: link.TypeOrderRestart, Group: group, Child: child, Order: o})
	}
}
