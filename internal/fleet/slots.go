//go:build linux

package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/resreap/resreap/internal/fleet/link"
)

// Grant is the answer to Acquire: OK with the slot taken, or the holders
// of every slot of the group's Budget.
type Grant struct {
	OK      bool
	Slot    int
	Budget  int
	Holders []link.Holder
}

// Budget is a group's fleet budget: N slots, or with Percent N% of the
// members registered fleet-wide (rounded down, at least 1), as
// config.GroupSpec.FleetBudget counts.
type Budget struct {
	N       int
	Percent bool
}

func (b Budget) of(registered int) int {
	if !b.Percent {
		return b.N
	}
	return max(1, int(math.Floor(float64(registered)*float64(b.N)/100)))
}

// takeTries bounds the rounds of Acquire lost to other hosts taking the
// free slot first: each round reads the slots again, so a loser sees the
// winner and either takes another free slot or is refused.
const takeTries = 4

// Acquire takes one of group's slots for child, whose live process is
// pid: etcd's semaphore recipe, one key per slot (slots/0 .. slots/N-1),
// created only if absent (create_revision == 0) in a transaction, under
// this host's lease, so that a host that dies frees its slots within the
// lease TTL. A child that holds a slot already keeps it. why says what
// the slot is for (the verdict's reason).
func (f *Fleet) Acquire(ctx context.Context, group, child string, pid int, b Budget, why string) (Grant, error) {
	return f.take(ctx, group, child, pid, b, why, nil, nil)
}

// take is Acquire with extra conditions and operations in the transaction
// that takes the slot (an order's mark).
func (f *Fleet) take(ctx context.Context, group, child string, pid int, b Budget, why string, cmps []clientv3.Cmp, ops []clientv3.Op) (Grant, error) {
	if h, ok := f.HeldBy(group, child); ok {
		if cmps != nil {
			return Grant{}, fmt.Errorf("group %s: %s holds a slot already", group, child)
		}
		return Grant{OK: true, Slot: h}, nil
	}
	lease, err := f.leaseID()
	if err != nil {
		return Grant{}, err
	}
	k := keys{f.cfg.Prefix}
	var g Grant
	for range takeTries {
		holders, registered, err := f.slots(ctx, group)
		if err != nil {
			return Grant{}, err
		}
		g = Grant{Budget: b.of(registered), Holders: holders}
		free := freeSlots(holders, g.Budget)
		if len(holders) >= g.Budget || len(free) == 0 {
			return g, nil
		}
		// A random free slot: hosts racing for the first one would
		// all lose but one, and read again.
		i := free[rand.IntN(len(free))]
		h := link.Holder{Slot: i, Host: f.cfg.Host, Child: child, Since: time.Now().UTC(), Why: why}
		data, err := json.Marshal(h)
		if err != nil {
			return Grant{}, err
		}
		key := k.slot(group, i)
		var won bool
		err = f.call(ctx, func(ctx context.Context) error {
			r, err := f.cli.Txn(ctx).
				If(append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, cmps...)...).
				Then(append([]clientv3.Op{clientv3.OpPut(key, string(data), clientv3.WithLease(lease))}, ops...)...).Commit()
			won = err == nil && r.Succeeded
			return err
		})
		if err != nil {
			return Grant{}, err
		}
		if won {
			f.mu.Lock()
			f.held[group+"\x00"+child] = heldSlot{group: group, child: child, key: key, value: string(data), pid: pid}
			f.mu.Unlock()
			return Grant{OK: true, Slot: i, Budget: g.Budget}, nil
		}
	}
	return g, nil
}

// slots reads the holders of group's slots and how many members are
// registered, in one transaction (one revision).
func (f *Fleet) slots(ctx context.Context, group string) ([]link.Holder, int, error) {
	k := keys{f.cfg.Prefix}
	var holders []link.Holder
	var registered int
	err := f.call(ctx, func(ctx context.Context) error {
		r, err := f.cli.Txn(ctx).Then(
			clientv3.OpGet(k.slots(group), clientv3.WithPrefix()),
			clientv3.OpGet(k.members(group), clientv3.WithPrefix(), clientv3.WithCountOnly()),
		).Commit()
		if err != nil {
			return err
		}
		holders = holders[:0]
		for _, kv := range r.Responses[0].GetResponseRange().Kvs {
			var h link.Holder
			if json.Unmarshal(kv.Value, &h) != nil {
				h = link.Holder{Host: "?", Child: "?"} // held all the same
			}
			h.Slot, _ = strconv.Atoi(strings.TrimPrefix(string(kv.Key), k.slots(group)))
			holders = append(holders, h)
		}
		registered = int(r.Responses[1].GetResponseRange().Count)
		return nil
	})
	slices.SortFunc(holders, func(a, b link.Holder) int { return a.Since.Compare(b.Since) })
	return holders, registered, err
}

// freeSlots lists the slots below budget that nobody holds.
func freeSlots(holders []link.Holder, budget int) []int {
	var free []int
	for i := range budget {
		if !slices.ContainsFunc(holders, func(h link.Holder) bool { return h.Slot == i }) {
			free = append(free, i)
		}
	}
	return free
}

// HeldBy returns the slot child holds in group, if it holds one.
func (f *Fleet) HeldBy(group, child string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.held[group+"\x00"+child]
	if !ok {
		return 0, false
	}
	i, _ := strconv.Atoi(strings.TrimPrefix(h.key, keys{f.cfg.Prefix}.slots(group)))
	return i, true
}

// heldPID is the process child had when it took its slot in group.
func (f *Fleet) heldPID(group, child string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.held[group+"\x00"+child]
	return h.pid, ok
}

// Held is how many slots of group this host holds.
func (f *Fleet) Held(group string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, h := range f.held {
		if h.group == group {
			n++
		}
	}
	return n
}

// Release gives back the slot child holds in group, if any, with ops
// (an order's mark) in the same transaction. The key is deleted only
// while it is still under this host's lease: after a lost lease it may be
// another host's.
func (f *Fleet) Release(ctx context.Context, group, child string, ops ...clientv3.Op) error {
	f.mu.Lock()
	h, ok := f.held[group+"\x00"+child]
	lease := f.lease
	f.mu.Unlock()
	if !ok && len(ops) == 0 {
		return nil
	}
	txn := []clientv3.Op{}
	var cmps []clientv3.Cmp
	if ok && lease != 0 {
		// Deleted in a nested transaction: the order's mark is written
		// whether or not the slot is still ours.
		txn = append(txn, clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(h.key), "=", lease)},
			[]clientv3.Op{clientv3.OpDelete(h.key)}, nil))
	}
	txn = append(txn, ops...)
	if len(txn) > 0 {
		err := f.call(ctx, func(ctx context.Context) error {
			_, err := f.cli.Txn(ctx).If(cmps...).Then(txn...).Commit()
			return err
		})
		if err != nil {
			return err
		}
	}
	f.mu.Lock()
	delete(f.held, group+"\x00"+child)
	f.mu.Unlock()
	return nil
}

// Holders returns the holders of group's slots and the members
// registered, oldest holder first.
func (f *Fleet) Holders(ctx context.Context, group string) ([]link.Holder, int, error) {
	return f.slots(ctx, group)
}
