//go:build linux

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/resreap/resreap/internal/fleet/link"
)

// Errors of the order commands.
var (
	// ErrOrderActive: a group has one order at a time; cancel it, or let
	// it finish, before writing another.
	ErrOrderActive = errors.New("an order is in progress")
	// ErrNoOrder: the group has no order to cancel.
	ErrNoOrder = errors.New("no order")
)

// States of a member in an order, as its mark says them; a registered
// member without a mark is waiting.
const (
	MarkRestarting = "restarting"
	MarkDone       = "done"
	MarkFailed     = "failed"
	MarkWaiting    = "waiting"
)

// orderMark is one member's progress in an order. PID is the process the
// restart began with: the member is done once it runs with another.
type orderMark struct {
	State string    `json:"state"`
	PID   int       `json:"pid,omitempty"`
	At    time.Time `json:"at"`
	Err   string    `json:"err,omitempty"`
}

// Order returns group's order (nil when none), its revision, and the
// marks of its members by "host/child".
func (f *Fleet) Order(ctx context.Context, group string) (*link.Order, int64, map[string]orderMark, error) {
	k := keys{f.cfg.Prefix}
	var o *link.Order
	var rev int64
	marks := map[string]orderMark{}
	err := f.call(ctx, func(ctx context.Context) error {
		r, err := f.cli.Get(ctx, k.order(group))
		if err != nil || len(r.Kvs) == 0 {
			return err
		}
		var ord link.Order
		if err := json.Unmarshal(r.Kvs[0].Value, &ord); err != nil {
			return fmt.Errorf("order of group %s: %w", group, err)
		}
		o, rev = &ord, r.Kvs[0].ModRevision
		mr, err := f.cli.Get(ctx, k.marks(group, ord.ID), clientv3.WithPrefix(), clientv3.WithRev(r.Header.Revision))
		if err != nil {
			return err
		}
		for _, kv := range mr.Kvs {
			var m orderMark
			host, child, ok := hostChild(string(kv.Key), k.marks(group, ord.ID))
			if ok && json.Unmarshal(kv.Value, &m) == nil {
				marks[host+"/"+child] = m
			}
		}
		return nil
	})
	return o, rev, marks, err
}

// PutOrder writes o as group's order, for the members registered now
// (o.Members), unless one is in progress (some member neither done nor
// failed): ErrOrderActive. A finished order is replaced, its marks
// removed with it.
func (f *Fleet) PutOrder(ctx context.Context, group string, o link.Order) error {
	st, err := f.Status(ctx, group)
	if err != nil {
		return err
	}
	k := keys{f.cfg.Prefix}
	var cmp clientv3.Cmp
	var ops []clientv3.Op
	if st.Order != nil {
		if !st.Finished() {
			return fmt.Errorf("group %s: %w (order %s, %s): cancel it first", group, ErrOrderActive, st.Order.ID, st.Summary())
		}
		cmp = clientv3.Compare(clientv3.ModRevision(k.order(group)), "=", st.orderRev)
		ops = append(ops, clientv3.OpDelete(k.marks(group, st.Order.ID), clientv3.WithPrefix()))
	} else {
		cmp = clientv3.Compare(clientv3.CreateRevision(k.order(group)), "=", 0)
	}
	o.Members = o.Members[:0:0]
	for _, m := range st.Members {
		o.Members = append(o.Members, m.Host+"/"+m.Child)
	}
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return f.call(ctx, func(ctx context.Context) error {
		r, err := f.cli.Txn(ctx).If(cmp).Then(append(ops, clientv3.OpPut(k.order(group), string(data)))...).Commit()
		if err == nil && !r.Succeeded {
			return fmt.Errorf("group %s: %w: another order was written meanwhile", group, ErrOrderActive)
		}
		return err
	})
}

// CancelOrder removes group's order and its marks: no member starts a
// restart for it from now on; restarts under way finish.
func (f *Fleet) CancelOrder(ctx context.Context, group string) (*link.Order, error) {
	o, rev, _, err := f.Order(ctx, group)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, fmt.Errorf("group %s: %w", group, ErrNoOrder)
	}
	k := keys{f.cfg.Prefix}
	err = f.call(ctx, func(ctx context.Context) error {
		r, err := f.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k.order(group)), "=", rev)).
			Then(clientv3.OpDelete(k.order(group)), clientv3.OpDelete(k.marks(group, o.ID), clientv3.WithPrefix())).Commit()
		if err == nil && !r.Succeeded {
			return fmt.Errorf("group %s: the order changed meanwhile; run cancel again", group)
		}
		return err
	})
	return o, err
}

// beginOrder takes a slot of group for child's restart under order o
// (rev: the order's revision, which must not have changed: an order
// cancelled or replaced meanwhile starts nothing), and marks the member
// restarting, in one transaction; pid is its live process. A member
// marked already is not restarted again.
func (f *Fleet) beginOrder(ctx context.Context, group string, o link.Order, rev int64, child string, pid int) (Grant, error) {
	k := keys{f.cfg.Prefix}
	mark := k.mark(group, o.ID, f.cfg.Host, child)
	data, err := json.Marshal(orderMark{State: MarkRestarting, PID: pid, At: time.Now().UTC()})
	if err != nil {
		return Grant{}, err
	}
	return f.take(ctx, group, child, pid, Budget{N: o.MaxUnavailable}, "order "+o.ID,
		[]clientv3.Cmp{
			clientv3.Compare(clientv3.ModRevision(k.order(group)), "=", rev),
			clientv3.Compare(clientv3.CreateRevision(mark), "=", 0),
		},
		[]clientv3.Op{clientv3.OpPut(mark, string(data))})
}

// endOrder marks child's restart under order id done or failed, and gives
// back its slot, in one transaction.
func (f *Fleet) endOrder(ctx context.Context, group, id, child, state, why string) error {
	k := keys{f.cfg.Prefix}
	data, err := json.Marshal(orderMark{State: state, At: time.Now().UTC(), Err: why})
	if err != nil {
		return err
	}
	mark := k.mark(group, id, f.cfg.Host, child)
	// Only while the order stands: a cancelled order's marks are gone
	// and must not come back.
	put := clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(mark), ">", 0)},
		[]clientv3.Op{clientv3.OpPut(mark, string(data))}, nil)
	return f.Release(ctx, group, child, put)
}
