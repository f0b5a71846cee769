//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// hello connects to addr and returns the server's "hello <pid>" line.
func hello(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// resreap dies of SIGKILL while its child, a pre-fork server, runs with
// workers in sessions of their own: the master dies with resreap (parent
// death signal), the workers keep the port. The next resreap finds them in
// the child's cgroup, records them as orphaned, stops them, and only then
// starts the server, which binds the port again.
func TestCrashRecoveryFreesThePort(t *testing.T) {
	cgrouptest.Need(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, helperChild("web", "forkserver", testchild.AddrEnv+"="+addr, testchild.NEnv+"=2"))
	first := startDaemon(t, cfg)
	waitStatus(t, cfg, running("web"))
	old, err := hello(addr)
	if err != nil {
		t.Fatalf("first generation does not serve: %v", err)
	}
	first.kill(t, syscall.SIGKILL)
	if _, err := hello(addr); err != nil {
		t.Fatalf("the workers should outlive resreap and keep serving: %v", err)
	}

	second := startDaemon(t, cfg)
	second.waitLog(t, "orphaned")
	waitStatus(t, cfg, running("web"))
	var now string
	testchild.WaitFor(t, "the new generation serving", func() bool {
		now, err = hello(addr)
		return err == nil
	})
	if now == old {
		t.Errorf("still served by the old worker: %s", now)
	}
	recs, _, err := history.Read(filepath.Join(dir, "history.jsonl"), history.Filter{Events: []history.Event{history.EventOrphaned}})
	if err != nil || len(recs) != 1 {
		t.Fatalf("orphaned records %+v, %v: want one", recs, err)
	}
	r := recs[0]
	var pids []int
	for _, p := range r.Processes {
		pids = append(pids, p.PID)
		if !strings.Contains(p.Command, "-test.run") || p.Uptime <= 0 {
			t.Errorf("orphan %+v: want the worker's command and how long it ran", p)
		}
	}
	var oldPID int
	fmt.Sscanf(old, "hello %d", &oldPID)
	if r.Child != "web" || len(r.Processes) != 2 || !slices.Contains(pids, oldPID) || len(r.SignalsSent) == 0 {
		t.Errorf("orphaned record %+v: want web's 2 workers (one of them %d), stopped with signals", r, oldPID)
	}
	t.Logf("orphaned: %s; processes %+v; signals %v; stop took %s", r.Message, r.Processes, r.SignalsSent, r.StopDuration)
}
