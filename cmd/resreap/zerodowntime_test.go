//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// get returns the body of GET http://addr/.
func get(addr string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// resreap dies of SIGKILL while its child, a socket-activated server,
// runs as the successor it handed over to (tableflip): the successor is
// no longer bound to resreap's life and keeps the listening socket. The
// next resreap records the sockets leaf and the orphaned generation,
// stops it before it binds again, serves from a new generation, and at
// its shutdown leaves no socket and no cgroup behind.
func TestCrashRecoveryWithListen(t *testing.T) {
	cgrouptest.Need(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	child := helperChild("web", "tableflip", testchild.ReadyEnv+"=notify") + fmt.Sprintf(`listen = [{ name = "http", address = %q }]
restart_mode = "surge"
ready = { notify = true }
stop = { signals = ["TERM"], wait = "10s" }
`, addr)
	cfg := writeConfig(t, dir, child)
	first := startDaemon(t, cfg)
	waitStatus(t, cfg, running("web"))
	before, err := get(addr)
	if err != nil {
		t.Fatalf("first generation does not serve: %v", err)
	}
	if code, out := resreap(t, "signal", "-c", cfg, "web", "USR2", "--main"); code != 0 {
		t.Fatalf("signal: %d %s", code, out)
	}
	var succ string
	testchild.WaitFor(t, "the successor serving", func() bool {
		succ, err = get(addr)
		return err == nil && succ != before
	})
	first.kill(t, syscall.SIGKILL)
	if now, err := get(addr); err != nil || now != succ {
		t.Fatalf("after the crash: %q, %v; want the successor (%s) serving", now, err, succ)
	}

	second := startDaemon(t, cfg)
	waitStatus(t, cfg, running("web"))
	var now string
	testchild.WaitFor(t, "a new generation serving", func() bool {
		now, err = get(addr)
		return err == nil && now != succ
	})
	recs := readHistory(t, dir, history.Filter{Events: []history.Event{history.EventOrphaned}})
	var sockets, orphans int
	for _, r := range recs {
		switch {
		case strings.Contains(r.Message, "sockets leaf"):
			sockets++
		case len(r.Processes) > 0 && fmt.Sprintf("hello %d", r.Processes[0].PID) == succ:
			orphans++
		}
	}
	if sockets != 1 || orphans != 1 {
		t.Errorf("orphaned records %+v: want the sockets leaf and the successor %s", recs, succ)
	}
	second.kill(t, syscall.SIGTERM)
	if _, err := get(addr); err == nil {
		t.Errorf("%s still serves after shutdown", addr)
	}
	second.checkCgroup(t)
}
