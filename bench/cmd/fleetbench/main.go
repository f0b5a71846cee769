//go:build linux

// Command fleetbench measures what a fleet costs its etcd: slot acquire
// latency with 3 and with 200 simulated hosts contending for the slots of
// one group, and etcd writes and lease renewals per host at steady state.
// `make bench` runs it; it prints a Markdown table.
//
//	go run ./bench/cmd/fleetbench -etcd /usr/bin/etcd
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/resreap/resreap/bench/harness"
)

func main() {
	etcd := flag.String("etcd", "/usr/bin/etcd", "etcd `binary` (Debian's etcd-server)")
	steady := flag.Duration("steady", 30*time.Second, "steady-state `span`")
	contend := flag.Duration("contend", 20*time.Second, "contention `span`")
	flag.Parse()
	fmt.Println("| hosts | members/host | budget | lease_ttl | writes/s/host (steady) | lease renewals/s/host | Acquire p50 | p99 | grant p50 | p99 | calls | grants |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, hosts := range []int{3, 200} {
		dir, err := os.MkdirTemp("", "fleetbench")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r, err := harness.MeasureFleet(context.Background(), *etcd, dir, hosts, 10, 2, 10*time.Second, *steady, *contend)
		os.RemoveAll(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench:", err)
			os.Exit(1)
		}
		fmt.Printf("| %d | %d | %d | 10s | %.3f | %.3f | %s | %s | %s | %s | %d | %d |\n", r.Hosts, r.MembersPerHost, r.Budget,
			r.WritesPerHost, r.RenewsPerHost, r.CallP50.Round(10*time.Microsecond), r.CallP99.Round(10*time.Microsecond),
			r.GrantP50.Round(time.Millisecond), r.GrantP99.Round(time.Millisecond), r.Calls, r.Grants)
	}
}
