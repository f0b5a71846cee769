//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// Twelve members on three hosts leak at once, with fleet_max_unavailable
// = 1 (and a local budget that would let all four of a host go): never
// two are down at once fleet-wide, from the three histories' own times;
// every member is restarted; the waits are recorded as deferred, naming
// who holds the slot; and each host records the incident once as
// correlated, naming the upstream and the hosts.
func TestFleetBudgetAcrossHosts(t *testing.T) {
	testchild.NeedRoot(t)
	e := testchild.StartEtcd(t)
	sink := testchild.ClosingListener(t, "127.0.0.1:0")
	o := newFleetOpts(t, e)
	o.children = leakingMembers(sink, 4, "")
	o.group = "max_unavailable = 4\nfleet_max_unavailable = 1"
	hosts := []*fleetHost{startFleetHost(t, "web-1", o), startFleetHost(t, "web-2", o), startFleetHost(t, "web-3", o)}

	restarted := func(h *fleetHost) map[string]bool {
		seen := map[string]bool{}
		for _, r := range h.history(t) {
			if r.Event == history.EventRestart && r.Reason == history.ReasonCloseWait {
				seen[r.Child] = true
			}
		}
		return seen
	}
	testchild.WaitWithin(t, "every member restarted", 90*time.Second, func() bool {
		for _, h := range hosts {
			if len(restarted(h)) < 4 {
				return false
			}
		}
		return true
	})
	var windows []downWindow
	for _, h := range hosts {
		windows = append(windows, downWindows(h.name, h.history(t))...)
	}
	if n, when := maxDown(windows); n > 1 {
		t.Errorf("%d members down at once fleet-wide at %s\n%s", n, when, dumpFleet(t, hosts...))
	}
	if len(windows) < 12 {
		t.Errorf("%d restarts, want at least 12", len(windows))
	}
	for _, h := range hosts {
		var deferred, correlated int
		for _, r := range h.history(t) {
			switch r.Event {
			case history.EventDeferred:
				// Behind a member of its own host that waited longer
				// (the local queue), before the agent's first word on
				// etcd, or behind the fleet's slot.
				if strings.Contains(r.Message, "has waited longer") || strings.Contains(r.Message, "first answer from etcd") {
					continue
				}
				deferred++
				if r.Fleet == nil || r.Fleet.Host != h.name || len(r.Fleet.Holders) == 0 || !strings.Contains(r.Message, "fleet budget of 1 spent") {
					t.Errorf("%s: deferred record %+v %+v", h.name, r, r.Fleet)
				}
			case history.EventCorrelated:
				correlated++
				if r.Endpoint != sink || r.Fleet == nil || len(r.Fleet.Hosts) < 2 {
					t.Errorf("%s: correlated record %+v %+v", h.name, r, r.Fleet)
				}
			}
		}
		if deferred == 0 {
			t.Errorf("%s: no record deferred by the fleet while twelve members leaked", h.name)
		}
		if correlated != 1 {
			t.Errorf("%s: %d correlated records, want one for the incident", h.name, correlated)
		}
	}
	if t.Failed() {
		t.Log(dumpFleet(t, hosts...))
	}
}

// A resreap killed with SIGKILL while it holds the slot (its member's
// stop waits on a process that ignores TERM) frees it within lease_ttl:
// the other host restarts its own member then.
func TestFleetKilledHolderFreesSlot(t *testing.T) {
	testchild.NeedRoot(t)
	e := testchild.StartEtcd(t)
	sink := testchild.ClosingListener(t, "127.0.0.1:0")
	o := newFleetOpts(t, e)
	o.group = "fleet_max_unavailable = 1"
	slow := o
	slow.children = leakingMembers(sink, 1, "stop = { signals = [\"TERM\"], wait = \"1m\" }",
		testchild.OnTermEnv+"=ignore", testchild.SigLogEnv+"="+filepath.Join(t.TempDir(), "signals"))
	a := startFleetHost(t, "web-1", slow)
	heldAt := time.Time{}
	testchild.WaitWithin(t, "web-1 to take the slot", 30*time.Second, func() bool {
		for _, r := range a.history(t) {
			if r.Event == history.EventUnhealthy && r.Fleet != nil && r.Fleet.Fallback == "" {
				heldAt = r.Time
				return true
			}
		}
		return false
	})
	o.children = leakingMembers(sink, 1, "")
	b := startFleetHost(t, "web-2", o)
	testchild.WaitWithin(t, "web-2 deferred behind web-1", 30*time.Second, func() bool {
		for _, r := range b.history(t) {
			if r.Event == history.EventDeferred && r.Fleet != nil && slices.ContainsFunc(r.Fleet.Holders, func(s string) bool { return strings.HasPrefix(s, "web-1/fe.0") }) {
				return true
			}
		}
		return false
	})
	a.d.kill(t, syscall.SIGKILL)
	killed := time.Now()
	var restartAt time.Time
	testchild.WaitWithin(t, "web-2's restart", 30*time.Second, func() bool {
		for _, r := range b.history(t) {
			if r.Event == history.EventUnhealthy && r.Fleet != nil && r.Fleet.Fallback == "" {
				restartAt = r.Time
				return true
			}
		}
		return false
	})
	// lease_ttl (2s), etcd's expiry sweep (500ms), and one health
	// verdict of web-2 after it (persist 2 at 200ms: under a second on a
	// loaded machine).
	if took := restartAt.Sub(killed); took > 4*time.Second {
		t.Errorf("web-2 restarted %s after web-1 was killed (held since %s); lease_ttl is 2s\n%s", took,
			heldAt.Format("15:04:05.000"), dumpFleet(t, a, b))
	}
}

// etcd stopped mid-run: with unreachable = "local" the members restart
// by the local budget, and each resreap says so once; with "hold" their
// restarts are deferred. etcd back: the fleet budget again.
func TestFleetEtcdUnreachable(t *testing.T) {
	testchild.NeedRoot(t)
	for _, mode := range []string{"local", "hold"} {
		t.Run(mode, func(t *testing.T) {
			e := testchild.StartEtcd(t)
			sink := testchild.ClosingListener(t, "127.0.0.1:0")
			o := newFleetOpts(t, e)
			o.unreachable = mode
			o.children = leakingMembers(sink, 2, "")
			o.group = "max_unavailable = 2\nfleet_max_unavailable = 1"
			hosts := []*fleetHost{startFleetHost(t, "web-1", o), startFleetHost(t, "web-2", o)}
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(dumpFleet(t, hosts...))
					for _, h := range hosts {
						for _, l := range strings.Split(h.d.output(), "\n") {
							if strings.Contains(l, "fleet") {
								t.Log(h.name, l)
							}
						}
					}
				}
			})
			fleetRestarts := func(h *fleetHost, after time.Time, fallback string) int {
				n := 0
				for _, r := range h.history(t) {
					if r.Event == history.EventUnhealthy && r.Time.After(after) && r.Fleet != nil && r.Fleet.Fallback == fallback {
						n++
					}
				}
				return n
			}
			testchild.WaitWithin(t, "restarts by the fleet budget", 60*time.Second, func() bool {
				return fleetRestarts(hosts[0], time.Time{}, "") > 0 && fleetRestarts(hosts[1], time.Time{}, "") > 0
			})
			stopped := time.Now() // before: a host may notice before Stop returns
			e.Stop()
			downRecord := func(h *fleetHost) bool {
				for _, r := range h.history(t) {
					if r.Event == history.EventFleet && r.Time.After(stopped) && strings.Contains(r.Message, "etcd unreachable") &&
						strings.Contains(r.Message, "unreachable = "+mode) {
						return true
					}
				}
				return false
			}
			testchild.WaitWithin(t, "each host to say etcd is unreachable", 30*time.Second, func() bool {
				return downRecord(hosts[0]) && downRecord(hosts[1])
			})
			switch mode {
			case "local":
				testchild.WaitWithin(t, "restarts by the local budget", 60*time.Second, func() bool {
					return fleetRestarts(hosts[0], stopped, "local") >= 2 && fleetRestarts(hosts[1], stopped, "local") >= 2
				})
			case "hold":
				testchild.WaitWithin(t, "restarts deferred", 30*time.Second, func() bool {
					for _, r := range hosts[0].history(t) {
						if r.Event == history.EventDeferred && r.Time.After(stopped) && r.Fleet != nil && r.Fleet.Fallback == "hold" {
							return true
						}
					}
					return false
				})
				// Held: no member of either host is stopped for a
				// verdict after the hosts said etcd was unreachable,
				// over three more seconds of leaks.
				time.Sleep(3 * time.Second)
				for _, h := range hosts {
					var said time.Time
					for _, r := range h.history(t) {
						if r.Event == history.EventFleet && r.Time.After(stopped) && said.IsZero() {
							said = r.Time
						}
						if r.Event == history.EventStop && r.Reason == history.ReasonCloseWait && !said.IsZero() && r.Time.After(said.Add(time.Second)) {
							t.Errorf("%s: %s stopped at %s while etcd was unreachable and unreachable = hold", h.name, r.Child, r.Time.Format("15:04:05.000"))
						}
					}
				}
			}
			for _, h := range hosts {
				n := 0
				for _, r := range h.history(t) {
					if r.Event == history.EventFleet && strings.Contains(r.Message, "etcd unreachable") {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s: %d records of etcd unreachable, want 1", h.name, n)
				}
			}
			if err := e.Start(); err != nil {
				t.Fatal(err)
			}
			back := time.Now()
			testchild.WaitWithin(t, "restarts by the fleet budget again", 60*time.Second, func() bool {
				return fleetRestarts(hosts[0], back, "") > 0 && fleetRestarts(hosts[1], back, "") > 0
			})
			if t.Failed() {
				t.Log(dumpFleet(t, hosts...))
			}
		})
	}
}

// A rolling restart of 9 members on three hosts with --max-unavailable 2:
// at most 2 down at any time (the resreap restarted halfway aside, whose
// own stop takes its members down), each member restarted by the order
// exactly once, and the order finished.
func TestFleetRollingRestart(t *testing.T) {
	testchild.NeedRoot(t)
	e := testchild.StartEtcd(t)
	o := newFleetOpts(t, e)
	o.children = helperChild("fe", "idle") + "instances = 3\nstart_seconds = \"700ms\"\n"
	o.group = "max_unavailable = 3\nfleet_max_unavailable = 1"
	hosts := []*fleetHost{startFleetHost(t, "web-1", o), startFleetHost(t, "web-2", o), startFleetHost(t, "web-3", o)}
	t.Setenv("PATH", filepath.Dir(fleetAgent(t))+":"+os.Getenv("PATH")) // resreap fleet runs resreap-fleet
	status := func() map[string]any {
		code, out, _ := ctl("fleet", "status", "-c", hosts[0].cfg, "fe", "--json")
		if code != 0 {
			t.Fatalf("fleet status: exit %d: %s", code, out)
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("fleet status --json: %v\n%s", err, out)
		}
		return st
	}
	testchild.WaitWithin(t, "9 members registered and running", 60*time.Second, func() bool {
		ms, _ := status()["members"].([]any)
		running := 0
		for _, m := range ms {
			if m.(map[string]any)["state"] == "running" {
				running++
			}
		}
		return running == 9
	})
	if code, out, _ := ctl("fleet", "restart", "-c", hosts[1].cfg, "fe", "--max-unavailable", "2", "--reason", "new build"); code != 0 {
		t.Fatalf("fleet restart: exit %d: %s", code, out)
	}
	if code, out, _ := ctl("fleet", "restart", "-c", hosts[1].cfg, "fe"); code != 1 || !strings.Contains(out, "in progress") {
		t.Errorf("a second order while one runs: exit %d: %s", code, out)
	}
	done := func() int {
		n := 0
		for _, h := range hosts {
			for _, r := range h.history(t) {
				if r.Event == history.EventOrder && strings.HasSuffix(r.Message, " done") {
					n++
				}
			}
		}
		return n
	}
	testchild.WaitWithin(t, "3 members done", 60*time.Second, func() bool { return done() >= 3 })
	restartedAt := time.Now()
	hosts[2].restart(t)
	testchild.WaitWithin(t, "the order finished", 90*time.Second, func() bool {
		st := status()
		return st["finished"] == true
	})
	st := status()
	if !strings.HasPrefix(st["summary"].(string), "9 done") {
		t.Errorf("summary %q", st["summary"])
	}
	begun := map[string]int{}
	var windows []downWindow
	for _, h := range hosts {
		for _, r := range h.history(t) {
			if r.Event == history.EventOrder && strings.Contains(r.Message, ": restarting ") {
				begun[h.name+"/"+r.Child]++
				if r.Fleet == nil || r.Fleet.Order == "" || !strings.Contains(r.Message, "new build") {
					t.Errorf("order record %+v %+v", r, r.Fleet)
				}
			}
		}
		for _, w := range downWindows(h.name, h.history(t)) {
			if w.reason == history.ReasonOrder {
				windows = append(windows, w)
			}
		}
	}
	for _, h := range hosts {
		for _, c := range []string{"fe.0", "fe.1", "fe.2"} {
			if n := begun[h.name+"/"+c]; n > 1 || (n == 0 && h != hosts[2]) {
				t.Errorf("%s/%s restarted by the order %d times", h.name, c, n)
			}
		}
	}
	if n, when := maxDown(windows); n > 2 {
		t.Errorf("%d members down at once for the order at %s (a resreap restarted at %s)", n, when, restartedAt.Format("15:04:05.000"))
	}
	if t.Failed() {
		t.Log(dumpFleet(t, hosts...))
	}
}
