//go:build linux

package fleet

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// session keeps a lease alive for as long as the Fleet is open: grant,
// put this host's keys back under it, keep it alive; when etcd stops
// answering the keep-alives for three quarters of the TTL, etcd is
// unreachable (the caller falls back: see [fleet] unreachable); when the
// client gives the lease up (no answer for the whole TTL: the server has
// dropped it, and every key bound to it), grant a new one.
//
// This is concurrency.Session's loop, with what it leaves out: it ends
// for good when its lease is lost, and a supervisor's session must come
// back by itself.
func (f *Fleet) session(ctx context.Context) {
	defer close(f.done)
	retry := 200 * time.Millisecond
	for ctx.Err() == nil {
		id, ka, err := f.grant(ctx)
		if err != nil {
			f.setUp(false, fmt.Errorf("%w: %w", ErrUnreachable, err))
			f.log.Debug().Err(err).Msg("fleet: no lease yet")
			if !sleepCtx(ctx, retry) {
				return
			}
			retry = min(2*retry, f.cfg.LeaseTTL/2)
			continue
		}
		retry = 200 * time.Millisecond
		f.keep(ctx, id, ka)
	}
}

// grant grants a lease, starts its keep-alives and puts this host's
// members and slots under it.
func (f *Fleet) grant(ctx context.Context) (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	var id clientv3.LeaseID
	err := f.call(ctx, func(ctx context.Context) error {
		want := int64(f.cfg.LeaseTTL / time.Second)
		r, err := f.cli.Grant(ctx, want)
		if err == nil {
			id = r.ID
			if r.TTL != want {
				// etcd raises a TTL below its minimum (1.5 election
				// timeouts): slots of a dead host then last longer.
				f.log.Warn().Int64("asked", want).Int64("granted", r.TTL).Msg("fleet: etcd granted another lease TTL than lease_ttl")
			}
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	ka, err := f.cli.KeepAlive(ctx, id)
	if err != nil {
		return 0, nil, f.failed(err)
	}
	f.grants.Add(1)
	f.mu.Lock()
	f.lease = id
	f.mu.Unlock()
	if err := f.restore(ctx, id); err != nil {
		f.log.Warn().Err(err).Msg("fleet: members not all registered again; retrying with the next answer")
	}
	return id, ka, nil
}

// keep consumes the keep-alive answers of lease id until the client gives
// it up or ctx ends.
func (f *Fleet) keep(ctx context.Context, id clientv3.LeaseID, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	ttl := f.cfg.LeaseTTL
	silent := ttl * 3 / 4
	tick := time.NewTicker(ttl / 8)
	defer tick.Stop()
	last := time.Now()
	f.setUp(true, nil)
	restored := true
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-ka:
			if !ok {
				f.mu.Lock()
				if f.lease == id {
					f.lease = 0
				}
				f.mu.Unlock()
				f.setUp(false, fmt.Errorf("%w: lease %x lost", ErrUnreachable, int64(id)))
				f.log.Warn().Msg("fleet: session lease lost; this host's members and slots are gone from etcd until a new lease")
				return
			}
			last = time.Now()
			if r.TTL <= 0 {
				continue
			}
			if !restored {
				restored = f.restore(ctx, id) == nil
			}
			f.setUp(true, nil)
		case <-tick.C:
			if time.Since(last) > silent {
				f.setUp(false, fmt.Errorf("%w: no keep-alive answer for %s", ErrUnreachable, time.Since(last).Round(time.Millisecond)))
				restored = false // a put may have failed meanwhile
			}
		}
	}
}

// restore puts this host's members and held slots under lease id: after a
// new lease, or after etcd came back. A slot taken by another host
// meanwhile is not taken back; its member's restart goes on without it
// (the only way out of a restart already begun is to finish it).
func (f *Fleet) restore(ctx context.Context, id clientv3.LeaseID) error {
	f.mu.Lock()
	members := make(map[string]string, len(f.members))
	for k, v := range f.members {
		members[k] = v
	}
	held := make([]heldSlot, 0, len(f.held))
	for _, h := range f.held {
		held = append(held, h)
	}
	f.mu.Unlock()
	for k, v := range members {
		if err := f.call(ctx, func(ctx context.Context) error {
			_, err := f.cli.Put(ctx, k, v, clientv3.WithLease(id))
			return err
		}); err != nil {
			return err
		}
	}
	for _, h := range held {
		var took bool
		err := f.call(ctx, func(ctx context.Context) error {
			r, err := f.cli.Txn(ctx).
				If(clientv3.Compare(clientv3.CreateRevision(h.key), "=", 0)).
				Then(clientv3.OpPut(h.key, h.value, clientv3.WithLease(id))).Commit()
			took = err == nil && r.Succeeded
			return err
		})
		if err != nil {
			return err
		}
		if !took {
			f.mu.Lock()
			delete(f.held, h.group+"\x00"+h.child)
			f.mu.Unlock()
			f.log.Warn().Str("group", h.group).Str("child", h.child).Msg("fleet: the slot this member held was taken by another host while etcd was away; its restart goes on without it")
		}
	}
	return nil
}

// unavailable reports an error of the connection, not of the request.
func unavailable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// sleepCtx sleeps d, or less if ctx ends first; it reports whether ctx
// is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
