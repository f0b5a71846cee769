//go:build linux

package harness

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/fleet"
	"github.com/resreap/resreap/internal/fleet/link"
	"github.com/resreap/resreap/internal/testchild"
)

// FleetResult is the cost of a fleet on one etcd: hosts simulated by
// goroutines, each with the fleet agent's own client code (a Fleet: one
// etcd client, one lease) and its members registered.
type FleetResult struct {
	Hosts, MembersPerHost, Budget int
	// Steady state, nothing restarting: raft proposals (writes) and
	// lease renewals per host per second, over Steady.
	Steady                       time.Duration
	WritesPerHost, RenewsPerHost float64
	// Contention: every host takes a slot of one group again and
	// again (held 20ms): the latency of one Acquire call, and of a
	// grant from the first try.
	Calls, Grants      int
	CallP50, CallP99   time.Duration
	GrantP50, GrantP99 time.Duration
	RSSAgentNote       string
}

// MeasureFleet runs etcd (etcdBin) with its data in dir, and hosts
// simulated hosts of members each against it, with lease_ttl ttl.
func MeasureFleet(ctx context.Context, etcdBin, dir string, hosts, members, budget int, ttl, steady, contend time.Duration) (FleetResult, error) {
	res := FleetResult{Hosts: hosts, MembersPerHost: members, Budget: budget, Steady: steady}
	e, err := testchild.LaunchEtcd(etcdBin, dir)
	if err != nil {
		return res, err
	}
	defer e.Close()
	fs := make([]*fleet.Fleet, hosts)
	defer func() {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range fs {
		fs[i], err = fleet.Open(link.Settings{Endpoints: []string{e.Endpoint}, Prefix: "/bench/", Host: fmt.Sprintf("host-%03d", i),
			LeaseTTL: ttl}, zerolog.Nop(), nil)
		if err != nil {
			return res, err
		}
	}
	for _, f := range fs {
		for ctx.Err() == nil {
			if up, _ := f.Up(); up {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for m := range members {
			if err := f.Register(ctx, "fe", link.Member{Child: "fe." + strconv.Itoa(m), State: "running", PID: 1, Ready: true, Since: time.Now()}); err != nil {
				return res, err
			}
		}
	}
	time.Sleep(2 * time.Second)
	p0, r0, err := etcdCounters(e.Endpoint)
	if err != nil {
		return res, err
	}
	time.Sleep(steady)
	p1, r1, err := etcdCounters(e.Endpoint)
	if err != nil {
		return res, err
	}
	res.WritesPerHost = (p1 - p0) / steady.Seconds() / float64(hosts)
	res.RenewsPerHost = (r1 - r0) / steady.Seconds() / float64(hosts)

	var mu sync.Mutex
	var calls, grants []time.Duration
	cctx, cancel := context.WithTimeout(ctx, contend)
	defer cancel()
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(func() {
			first := time.Now()
			for cctx.Err() == nil {
				t := time.Now()
				g, err := f.Acquire(cctx, "fe", "fe.0", 1, fleet.Budget{N: budget}, "bench")
				took := time.Since(t)
				if err != nil {
					continue
				}
				mu.Lock()
				calls = append(calls, took)
				if g.OK {
					grants = append(grants, time.Since(first))
				}
				mu.Unlock()
				if g.OK {
					time.Sleep(20 * time.Millisecond)
					_ = f.Release(ctx, "fe", "fe.0")
					first = time.Now()
				}
				time.Sleep(time.Duration(20+rand.IntN(20)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	res.Calls, res.Grants = len(calls), len(grants)
	res.CallP50, res.CallP99 = pct(calls, 0.5), pct(calls, 0.99)
	res.GrantP50, res.GrantP99 = pct(grants, 0.5), pct(grants, 0.99)
	return res, nil
}

func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// etcdCounters reads etcd's committed raft proposals (every write) and
// lease renewals from its /metrics.
func etcdCounters(endpoint string) (proposals, renews float64, err error) {
	r, err := http.Get(endpoint + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(val, 64)
		switch name {
		case "etcd_server_proposals_committed_total":
			proposals = v
		case "etcd_debugging_lease_renewed_total":
			renews = v
		}
	}
	return proposals, renews, sc.Err()
}
