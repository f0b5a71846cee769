//go:build linux

package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// Three resreaps on one machine stand for three hosts: each has its own
// state directory, control socket, cgroup subtree and [fleet] host, and
// they share one etcd (a real one, testchild.StartEtcd).

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
)

// fleetAgent builds resreap-fleet once per test binary.
func fleetAgent(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "resreap-fleet-agent")
		if err != nil {
			agentErr = err
			return
		}
		agentPath = filepath.Join(dir, "resreap-fleet")
		out, err := exec.Command("go", "build", "-o", agentPath, "../resreap-fleet").CombinedOutput()
		if err != nil {
			agentErr = fmt.Errorf("go build resreap-fleet: %v\n%s", err, out)
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentPath
}

// fleetHost is one resreap of a fleet test.
type fleetHost struct {
	name, dir, cfg string
	d              *daemon
}

// fleetOpts shape a fleet test's hosts.
type fleetOpts struct {
	prefix      string // the fleet's etcd prefix, one per test
	etcd        string
	unreachable string // "" = local
	group       string // the [[group]] table's extra lines
	children    string // [[child]] tables
}

func newFleetOpts(t *testing.T, e *testchild.Etcd) fleetOpts {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fleetOpts{prefix: "/t-" + hex.EncodeToString(b[:]) + "/", etcd: e.Endpoint}
}

// startFleetHost writes host's config and starts its resreap.
func startFleetHost(t *testing.T, name string, o fleetOpts) *fleetHost {
	t.Helper()
	dir := t.TempDir()
	unreachable := o.unreachable
	if unreachable == "" {
		unreachable = "local"
	}
	sup := fmt.Sprintf(`
[fleet]
endpoints = [%q]
prefix = %q
host = %q
lease_ttl = "2s"
unreachable = %q
agent = %q
`, o.etcd, o.prefix, name, unreachable, fleetAgent(t))
	children := o.children + "\n[[group]]\nname = \"fe\"\nmembers = [\"fe\"]\nfleet = true\n" + o.group + "\n"
	h := &fleetHost{name: name, dir: dir, cfg: faultConfig(t, dir, sup, children)}
	h.d = startDaemon(t, h.cfg)
	return h
}

// restart stops the host's resreap and starts another on its config.
func (h *fleetHost) restart(t *testing.T) {
	t.Helper()
	h.d.kill(t, syscall.SIGTERM)
	h.d = startDaemon(t, h.cfg)
}

// history is the host's history so far (none before its first event).
func (h *fleetHost) history(t *testing.T) []history.Record {
	t.Helper()
	recs, _, err := history.Read(filepath.Join(h.dir, "history.jsonl"), history.Filter{})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return recs
}

// leakingMembers is instances copies of a child leaking CLOSE_WAIT
// sockets to sink from its start, judged within a second, restarted at
// once; extra goes into its table.
func leakingMembers(sink string, instances int, extra string, env ...string) string {
	return helperChild("fe", "leak", append([]string{testchild.AddrEnv + "=" + sink, testchild.NEnv + "=2"}, env...)...) +
		fmt.Sprintf("instances = %d\nstart_seconds = \"200ms\"\nbackoff = { initial = \"0s\", max = \"0s\" }\n%s\n[child.health]\n%s",
			instances, extra, leakHealth)
}

// downWindow is one member down, from its stop's first signal to its
// next start, on one host.
type downWindow struct {
	who        string // host/child
	reason     history.Reason
	from, till time.Time
}

// downWindows reads the windows from a host's history; a member still
// down at the end has none.
func downWindows(host string, recs []history.Record) []downWindow {
	var out []downWindow
	for i, r := range recs {
		if r.Event != history.EventStop || len(r.SignalsSent) == 0 {
			continue
		}
		w := downWindow{who: host + "/" + r.Child, reason: r.Reason, from: r.SignalsSent[0].Time}
		for _, next := range recs[i+1:] {
			if next.Child == r.Child && next.Event == history.EventStart {
				w.till = next.Time
				break
			}
		}
		if !w.till.IsZero() {
			out = append(out, w)
		}
	}
	return out
}

// maxDown is the most windows open at once, and a moment when it was.
func maxDown(ws []downWindow) (int, string) {
	type edge struct {
		at   time.Time
		up   int
		what string
	}
	var es []edge
	for _, w := range ws {
		es = append(es, edge{w.from, 1, w.who}, edge{w.till, -1, w.who})
	}
	slices.SortFunc(es, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.up - b.up // an end before a start at the same instant
	})
	n, most, when := 0, 0, ""
	var open []string
	for _, e := range es {
		n += e.up
		if e.up > 0 {
			open = append(open, e.what)
		} else if i := slices.Index(open, e.what); i >= 0 {
			open = slices.Delete(open, i, i+1)
		}
		if n > most {
			most, when = n, e.at.Format("15:04:05.000")+" "+strings.Join(open, ", ")
		}
	}
	return most, when
}

// dump is the fleet records of the hosts' histories, for a failure.
func dumpFleet(t *testing.T, hosts ...*fleetHost) string {
	var b strings.Builder
	for _, h := range hosts {
		for _, r := range h.history(t) {
			switch r.Event {
			case history.EventStart, history.EventExit:
				continue
			}
			fmt.Fprintf(&b, "%s %s %s %s %s %s\n", r.Time.Format("15:04:05.000"), h.name, r.Child, r.Event, r.Reason, r.Message)
		}
	}
	return b.String()
}
