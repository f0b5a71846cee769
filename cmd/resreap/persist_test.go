//go:build linux

package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// helperChild is a [[child]] running the test binary as a testchild helper.
func helperChild(name, mode string, kv ...string) string {
	env := []string{}
	for _, e := range testchild.Env(mode, kv...) {
		k, v, _ := strings.Cut(e, "=")
		env = append(env, fmt.Sprintf("%s = %q", k, v))
	}
	argv := []string{}
	for _, a := range testchild.Argv("") {
		argv = append(argv, strconv.Quote(a))
	}
	return fmt.Sprintf("[[child]]\nname = %q\ncommand = [%s]\nenv = { %s }\n", name, strings.Join(argv, ", "), strings.Join(env, ", "))
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scenarioDuration is how long TestNoFalseRestartBesideRestartingSiblings
// probes; RESREAP_SCENARIO_SECONDS overrides it for longer runs.
func scenarioDuration() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("RESREAP_SCENARIO_SECONDS")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 45 * time.Second
}

// A well-behaved server whose sockets sit in CLOSE_WAIT for 300ms after
// each peer hangs up, probed with bursts of 3 connections every 2s, beside
// three children that exit and restart on schedules of their own (each
// restart moves its scans): persistence is judged on the server's own
// scans, in time, so it is never restarted. A child that really leaks, in
// the same run, is caught within persist x interval + 1s of its start,
// every time it is started again.
func TestNoFalseRestartBesideRestartingSiblings(t *testing.T) {
	dir := t.TempDir()
	server := freeAddr(t)
	sink := testchild.ClosingListener(t, "127.0.0.1:0")
	children := `[defaults.health]
interval = "1s"
close_wait = { threshold = 2, persist = 2 }
fds = { enabled = false }

` + helperChild("server", "closedelay", testchild.AddrEnv+"="+server, testchild.AfterEnv+"=300ms") +
		helperChild("leaker", "leak", testchild.AddrEnv+"="+sink, testchild.NEnv+"=3") +
		helperChild("sib1", "exit", testchild.AfterEnv+"=700ms", testchild.CodeEnv+"=1") +
		helperChild("sib2", "exit", testchild.AfterEnv+"=1100ms", testchild.CodeEnv+"=1") +
		helperChild("sib3", "exit", testchild.AfterEnv+"=1700ms", testchild.CodeEnv+"=1")
	cfg := writeConfig(t, dir, children)
	d := startDaemon(t, cfg)
	waitStatus(t, cfg, running("server"))
	testchild.WaitFor(t, "the server listening", func() bool {
		c, err := net.Dial("tcp", server)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	probes := 0
	for end := time.Now().Add(scenarioDuration()); time.Now().Before(end); probes++ {
		for range 3 {
			c, err := net.Dial("tcp", server)
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			c.Close() // the server's end sits in CLOSE_WAIT for 300ms
		}
		// About every 2s: a fixed period would lock the bursts to one
		// phase of the 1s scans.
		time.Sleep(1500*time.Millisecond + time.Duration(rand.IntN(1000))*time.Millisecond)
	}
	d.kill(t, 15)

	recs, _, err := history.Read(filepath.Join(dir, "history.jsonl"), history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var leakStart time.Time
	var latencies []time.Duration
	for _, r := range recs {
		switch {
		case r.Child == "server" && r.Event == history.EventUnhealthy:
			t.Errorf("healthy server judged unhealthy at %s: %s", r.Time.Format("15:04:05.000"), r.Evidence.Summary())
		case r.Child == "leaker" && r.Event == history.EventStart:
			leakStart = r.Time
		case r.Child == "leaker" && r.Event == history.EventUnhealthy && !leakStart.IsZero():
			latencies = append(latencies, r.Time.Sub(leakStart))
			leakStart = time.Time{}
		}
	}
	// Never before (persist-1) x interval: that is the fix. Typically
	// within start_seconds (100ms) + persist x interval (2s) + 1s; a loaded
	// machine may delay a tick, so that bound holds for the median, and
	// every detection comes within twice it.
	const least, typical = time.Second, 3100 * time.Millisecond
	for _, l := range latencies {
		if l < least || l > 2*typical {
			t.Errorf("leak caught %s after the start, want %s to %s", l, least, 2*typical)
		}
	}
	if len(latencies) > 0 {
		sorted := slices.Clone(latencies)
		slices.Sort(sorted)
		if med := sorted[len(sorted)/2]; med > typical {
			t.Errorf("median detection %s after the start, want at most %s", med, typical)
		}
	}
	if len(latencies) < 3 {
		t.Errorf("leak caught %d times in %s, want at least 3", len(latencies), scenarioDuration())
	}
	t.Logf("%d probe bursts; leak detection latencies from start: %v", probes, latencies)
}
