//go:build linux

package fleet

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/resreap/resreap/internal/fleet/link"
)

// StateGone is the state of a member that is no longer this host's (a
// reload removed it): Register with it removes the member's key.
const StateGone = "gone"

// Register puts member m of group under this host's lease, and keeps it:
// a new lease gets it again. It does not wait for etcd when there is no
// lease (the session puts it when there is one).
func (f *Fleet) Register(ctx context.Context, group string, m link.Member) error {
	m.Host = f.cfg.Host
	key := keys{f.cfg.Prefix}.member(group, m.Host, m.Child)
	if m.State == StateGone {
		f.mu.Lock()
		delete(f.members, key)
		f.mu.Unlock()
		return f.call(ctx, func(ctx context.Context) error {
			_, err := f.cli.Delete(ctx, key)
			return err
		})
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.members[key] = string(data)
	f.mu.Unlock()
	lease, err := f.leaseID()
	if err != nil {
		return err
	}
	return f.call(ctx, func(ctx context.Context) error {
		_, err := f.cli.Put(ctx, key, string(data), clientv3.WithLease(lease))
		return err
	})
}

// Members returns every member of group registered fleet-wide, by host
// then child.
func (f *Fleet) Members(ctx context.Context, group string) ([]link.Member, error) {
	var out []link.Member
	err := f.call(ctx, func(ctx context.Context) error {
		r, err := f.cli.Get(ctx, keys{f.cfg.Prefix}.members(group), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		out = decodeMembers(r.Kvs)
		return nil
	})
	return out, err
}

// decodeMembers reads member keys, skipping what does not decode (a
// newer resreap's), sorted by host then child.
func decodeMembers(kvs []*mvccpb.KeyValue) []link.Member {
	var out []link.Member
	for _, kv := range kvs {
		var m link.Member
		if json.Unmarshal(kv.Value, &m) == nil && m.Host != "" {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b link.Member) int {
		return strings.Compare(a.Host+"/"+a.Child, b.Host+"/"+b.Child)
	})
	return out
}
