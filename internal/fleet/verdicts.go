//go:build linux

package fleet

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// verdict is what a host publishes of one member's health verdict: the
// dominant foreign endpoint of its CLOSE_WAIT sockets, when, and for how
// long that counts (1.5 health intervals, as the local correlation).
type verdict struct {
	Endpoint string        `json:"endpoint"`
	At       time.Time     `json:"at"`
	Window   time.Duration `json:"window"`
}

// Publish puts child's verdict under this host's lease.
func (f *Fleet) Publish(ctx context.Context, group, child, endpoint string, window time.Duration) error {
	lease, err := f.leaseID()
	if err != nil {
		return err
	}
	data, err := json.Marshal(verdict{Endpoint: endpoint, At: time.Now().UTC(), Window: window})
	if err != nil {
		return err
	}
	key := keys{f.cfg.Prefix}.verdict(group, f.cfg.Host, child)
	return f.call(ctx, func(ctx context.Context) error {
		_, err := f.cli.Put(ctx, key, string(data), clientv3.WithLease(lease))
		return err
	})
}

// Agreement is the members of a fleet group, on two hosts or more, whose
// latest verdicts (each within its window) name the same endpoint.
type Agreement struct {
	Endpoint string
	Hosts    []string
	Members  []string // host/child
}

// Agree reads group's verdicts and returns the endpoint most hosts agree
// on now, if at least two do.
func (f *Fleet) Agree(ctx context.Context, group string, now time.Time) (Agreement, bool, error) {
	k := keys{f.cfg.Prefix}
	byEndpoint := map[string]*Agreement{}
	err := f.call(ctx, func(ctx context.Context) error {
		r, err := f.cli.Get(ctx, k.verdicts(group), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		for _, kv := range r.Kvs {
			var v verdict
			host, child, ok := hostChild(string(kv.Key), k.verdicts(group))
			if !ok || json.Unmarshal(kv.Value, &v) != nil || v.Endpoint == "" || now.Sub(v.At) > v.Window {
				continue
			}
			a := byEndpoint[v.Endpoint]
			if a == nil {
				a = &Agreement{Endpoint: v.Endpoint}
				byEndpoint[v.Endpoint] = a
			}
			if !slices.Contains(a.Hosts, host) {
				a.Hosts = append(a.Hosts, host)
			}
			a.Members = append(a.Members, host+"/"+child)
		}
		return nil
	})
	var best *Agreement
	for _, a := range byEndpoint {
		if best == nil || len(a.Hosts) > len(best.Hosts) || (len(a.Hosts) == len(best.Hosts) && a.Endpoint < best.Endpoint) {
			best = a
		}
	}
	if err != nil || best == nil || len(best.Hosts) < 2 {
		return Agreement{}, false, err
	}
	slices.Sort(best.Hosts)
	slices.Sort(best.Members)
	return *best, true, nil
}
