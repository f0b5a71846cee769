//go:build linux

package fleet

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/resreap/resreap/internal/fleet/link"
	"github.com/resreap/resreap/internal/testchild"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open connects host to the etcd at e, closed at the test's end.
func open(t *testing.T, e *testchild.Etcd, host string) *Fleet {
	t.Helper()
	f, err := Open(settings(e, host), zerolog.New(os.Stderr).With().Str("host", host).Logger().Level(zerolog.WarnLevel), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	waitUp(t, f)
	return f
}

func settings(e *testchild.Etcd, host string) link.Settings {
	return link.Settings{Endpoints: []string{e.Endpoint}, Prefix: "/t/", Host: host, LeaseTTL: 2 * time.Second,
		RequestTimeout: 2 * time.Second}
}

func waitUp(t *testing.T, f *Fleet) {
	t.Helper()
	testchild.WaitWithin(t, f.Host()+" to reach etcd", 20*time.Second, func() bool { up, _ := f.Up(); return up })
}

// The semaphore: two slots, three hosts; the third is refused and told
// who holds them, and gets one once one is given back. A member that
// holds a slot asking again keeps it.
func TestSlots(t *testing.T) {
	e := testchild.StartEtcd(t)
	ctx := context.Background()
	a, b, c := open(t, e, "a"), open(t, e, "b"), open(t, e, "c")
	two := Budget{N: 2}
	for _, f := range []*Fleet{a, b} {
		g, err := f.Acquire(ctx, "fe", "fe.0", 10, two, "close_wait")
		if err != nil || !g.OK {
			t.Fatalf("%s: %+v %v", f.Host(), g, err)
		}
	}
	if g, err := a.Acquire(ctx, "fe", "fe.0", 10, two, "close_wait"); err != nil || !g.OK {
		t.Errorf("a member asking again: %+v %v", g, err)
	}
	g, err := c.Acquire(ctx, "fe", "fe.0", 11, two, "close_wait")
	if err != nil || g.OK || g.Budget != 2 || len(g.Holders) != 2 {
		t.Fatalf("third host: %+v %v, want refused with two holders", g, err)
	}
	if h := g.Holders[0]; h.Host != "a" || h.Child != "fe.0" || h.Why != "close_wait" || time.Since(h.Since) > time.Minute {
		t.Errorf("oldest holder %+v", h)
	}
	if err := a.Release(ctx, "fe", "fe.0"); err != nil {
		t.Fatal(err)
	}
	if g, err := c.Acquire(ctx, "fe", "fe.0", 11, two, "close_wait"); err != nil || !g.OK {
		t.Errorf("after a release: %+v %v", g, err)
	}
	if n := c.Held("fe"); n != 1 {
		t.Errorf("c holds %d slots", n)
	}
}

// A percentage budget counts the members registered fleet-wide.
func TestPercentBudget(t *testing.T) {
	e := testchild.StartEtcd(t)
	ctx := context.Background()
	a := open(t, e, "a")
	for _, child := range []string{"fe.0", "fe.1", "fe.2", "fe.3"} {
		if err := a.Register(ctx, "fe", link.Member{Child: child, State: "running", PID: 1, Ready: true}); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := a.Members(ctx, "fe")
	if err != nil || len(ms) != 4 || ms[0].Host != "a" || ms[0].Child != "fe.0" || ms[0].State != "running" {
		t.Fatalf("members %+v %v", ms, err)
	}
	half := Budget{N: 50, Percent: true}
	for i, child := range []string{"fe.0", "fe.1", "fe.2"} {
		g, err := a.Acquire(ctx, "fe", child, 1, half, "fds")
		if err != nil || g.Budget != 2 || g.OK != (i < 2) {
			t.Errorf("%s: %+v %v", child, g, err)
		}
	}
}

// A host that dies (its keep-alives stop, nothing revoked) frees its
// slots and members within the lease TTL.
func TestDeadHostFreesSlots(t *testing.T) {
	e := testchild.StartEtcd(t)
	ctx := context.Background()
	a, b := open(t, e, "a"), open(t, e, "b")
	if err := a.Register(ctx, "fe", link.Member{Child: "fe.0", State: "running"}); err != nil {
		t.Fatal(err)
	}
	if g, err := a.Acquire(ctx, "fe", "fe.0", 1, Budget{N: 1}, "close_wait"); err != nil || !g.OK {
		t.Fatal(g, err)
	}
	a.abandon()
	died := time.Now()
	testchild.WaitWithin(t, "a's slot to be free", 10*time.Second, func() bool {
		g, err := b.Acquire(ctx, "fe", "fe.0", 2, Budget{N: 1}, "close_wait")
		return err == nil && g.OK
	})
	// The TTL, plus etcd's expiry sweep (every 500ms) and the poll.
	if took := time.Since(died); took > 2*time.Second+time.Second {
		t.Errorf("slot free %s after the host died; lease_ttl is 2s", took)
	}
	if ms, _ := b.Members(ctx, "fe"); len(ms) != 0 {
		t.Errorf("a's members still registered: %+v", ms)
	}
}

// etcd stopped: the host learns it within the TTL and is refused with
// ErrUnreachable; etcd back (after the lease expired): a new lease, and
// the members are registered again by themselves.
func TestEtcdDownAndBack(t *testing.T) {
	e := testchild.StartEtcd(t)
	ctx := context.Background()
	changes := make(chan bool, 16)
	a, err := Open(settings(e, "a"), zerolog.Nop(), func(up bool, _ error) { changes <- up })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	waitUp(t, a)
	if err := a.Register(ctx, "fe", link.Member{Child: "fe.0", State: "running"}); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	testchild.WaitWithin(t, "etcd unreachable", 10*time.Second, func() bool { up, _ := a.Up(); return !up })
	_, err = a.Acquire(ctx, "fe", "fe.0", 1, Budget{N: 1}, "close_wait")
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Acquire with etcd down: %v, want ErrUnreachable", err)
	}
	time.Sleep(3 * time.Second) // past the TTL: the lease is gone when etcd is back
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	waitUp(t, a)
	testchild.WaitWithin(t, "fe.0 registered again", 10*time.Second, func() bool {
		ms, err := a.Members(ctx, "fe")
		return err == nil && len(ms) == 1
	})
	if g, err := a.Acquire(ctx, "fe", "fe.0", 1, Budget{N: 1}, "close_wait"); err != nil || !g.OK {
		t.Errorf("after etcd came back: %+v %v", g, err)
	}
	var seen []bool
	for len(changes) > 0 {
		seen = append(seen, <-changes)
	}
	if len(seen) < 3 || seen[0] != true || seen[len(seen)-1] != true {
		t.Errorf("changes %v, want up, down..., up", seen)
	}
}

// An order is written once; another waits until it is cancelled; a
// member's restart is begun once.
func TestOrders(t *testing.T) {
	e := testchild.StartEtcd(t)
	ctx := context.Background()
	a := open(t, e, "a")
	if err := a.Register(ctx, "fe", link.Member{Child: "fe.0", State: "running", PID: 5}); err != nil {
		t.Fatal(err)
	}
	o := link.Order{ID: "o1", MaxUnavailable: 1, Reason: "new build", Created: time.Now().UTC()}
	if err := a.PutOrder(ctx, "fe", o); err != nil {
		t.Fatal(err)
	}
	if err := a.PutOrder(ctx, "fe", link.Order{ID: "o2", MaxUnavailable: 1}); !errors.Is(err, ErrOrderActive) {
		t.Errorf("second order: %v, want ErrOrderActive", err)
	}
	have, rev, _, err := a.Order(ctx, "fe")
	if err != nil || have == nil || have.ID != "o1" || have.Reason != "new build" {
		t.Fatalf("order %+v %v", have, err)
	}
	if g, err := a.beginOrder(ctx, "fe", *have, rev, "fe.0", 5); err != nil || !g.OK {
		t.Fatalf("begin: %+v %v", g, err)
	}
	st, err := a.Status(ctx, "fe")
	if err != nil || len(st.Progress["a"].Restarting) != 1 || len(st.Holders) != 1 || st.Finished() {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := a.endOrder(ctx, "fe", "o1", "fe.0", MarkDone, ""); err != nil {
		t.Fatal(err)
	}
	if g, err := a.beginOrder(ctx, "fe", *have, rev, "fe.0", 6); err != nil || g.OK {
		t.Errorf("begun twice: %+v %v", g, err)
	}
	st, _ = a.Status(ctx, "fe")
	if !st.Finished() || len(st.Holders) != 0 || st.Summary() != "1 done, 0 in progress, 0 waiting, 0 failed" {
		t.Errorf("status %+v: %s", st, st.Summary())
	}
	if _, err := a.CancelOrder(ctx, "fe"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CancelOrder(ctx, "fe"); !errors.Is(err, ErrNoOrder) {
		t.Errorf("cancel twice: %v", err)
	}
}

// An order is not over while a member it was written for is down: its
// resreap gone (lease revoked, registration with it), the member neither
// done nor failed waits, and the order is finished only once it is done.
// (A resreap restarting during a rolling restart made the order look
// finished, and a new order could then be written over it.)
func TestOrderWaitsForMembersDown(t *testing.T) {
	e := testchild.StartEtcd(t)
	ctx := context.Background()
	a, b := open(t, e, "a"), open(t, e, "b")
	for _, f := range []*Fleet{a, b} {
		if err := f.Register(ctx, "fe", link.Member{Child: "fe.0", State: "running", PID: 5}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.PutOrder(ctx, "fe", link.Order{ID: "o1", MaxUnavailable: 1, Created: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	o, rev, _, err := a.Order(ctx, "fe")
	if err != nil || o == nil {
		t.Fatalf("order %+v %v", o, err)
	}
	if g, err := a.beginOrder(ctx, "fe", *o, rev, "fe.0", 5); err != nil || !g.OK {
		t.Fatalf("begin: %+v %v", g, err)
	}
	if err := a.endOrder(ctx, "fe", "o1", "fe.0", MarkDone, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	testchild.WaitFor(t, "b's member gone from etcd", func() bool {
		ms, err := a.Members(ctx, "fe")
		return err == nil && len(ms) == 1
	})
	st, err := a.Status(ctx, "fe")
	if err != nil || st.Finished() || st.Summary() != "1 done, 0 in progress, 1 waiting, 0 failed" {
		t.Fatalf("status %+v %v: %s; want b/fe.0 waiting", st, err, st.Summary())
	}
	if err := a.PutOrder(ctx, "fe", link.Order{ID: "o2", MaxUnavailable: 1}); !errors.Is(err, ErrOrderActive) {
		t.Errorf("an order over one still waiting for a member: %v, want ErrOrderActive", err)
	}
}
