//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
	"github.com/resreap/resreap/supervisor/control"
)

// Held before: properties earlier work established, kept holding.

// resreap as PID 1 of a PID namespace, like tini in a container, with a
// child whose 1000 grandchildren are orphaned and exit: every one is
// reaped (no zombie is left in the namespace) and the log counts them.
func TestFaultHeldPID1Reaps(t *testing.T) {
	const orphans = 1000
	dir := t.TempDir()
	// A subshell starts the grandchildren, each blocked reading a FIFO, and
	// exits: they are orphans. Then the child closes the FIFO's last writer
	// and they all exit at once. (No exec per grandchild: forks are slow
	// enough. Each closes its copy of the writer with exec, which keeps no
	// saved copy, as a redirection of read would.)
	spawner := fmt.Sprintf(`f=$(mktemp -u); mkfifo "$f"; exec 3<>"$f" 4<"$f"; rm "$f"
( i=0; while [ $i -lt %d ]; do { exec 3>&-; read x; } <&4 & i=$((i+1)); done )
echo orphaned; exec 3>&- 4<&-; exec sleep 600`, orphans)
	cfg := faultConfig(t, dir, "", fmt.Sprintf("[[child]]\nname = \"spawner\"\ncommand = [\"sh\", \"-c\", %q]\n", spawner))
	r := startRun(t, cfg, runOpts{pidNS: true})
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", r.pid))
	if err != nil {
		t.Fatal(err)
	}
	reaped := func(m map[string]any) bool { return m["message"] == "reaped orphan" }
	mostZombies := 0
	var zombies []int
	start := time.Now()
	testchild.WaitFor(t, fmt.Sprintf("%d orphans reaped", orphans), func() bool {
		zombies = zombiesIn(ns)
		mostZombies = max(mostZombies, len(zombies))
		return len(r.logsWhere(reaped)) >= orphans
	})
	took := time.Since(start)
	// Reaping is asynchronous: allow the last few a moment.
	testchild.WaitFor(t, "no zombie in the namespace", func() bool {
		zombies = zombiesIn(ns)
		return len(zombies) == 0
	})
	n := len(r.logsWhere(reaped))
	if n < orphans {
		t.Errorf("the log counts %d reaped orphans, want %d", n, orphans)
	}
	st := mustStatus(t, cfg, 10*time.Second)
	t.Logf("PID 1: %d orphans reaped and logged in %s, 0 zombies left among them (at most %d unreaped at once while they exited); spawner %s",
		n, took.Round(time.Millisecond), mostZombies, st.Children[0].State)
}

// zombiesIn returns the zombies of the PID namespace ns, as seen from
// here.
func zombiesIn(ns string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && l == ns && procState(pid) == 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// 100 stops of TERM-ignoring children with wait = 500ms: each KILL follows
// its TERM by the wait and a little more, never by much more.
func TestFaultHeldKillTiming(t *testing.T) {
	const wait, children, perChild = 500 * time.Millisecond, 5, 20
	dir := t.TempDir()
	var specs string
	var names []string
	for i := range children {
		name := fmt.Sprintf("stubborn%d", i+1)
		names = append(names, name)
		specs += fmt.Sprintf(`
[[child]]
name = %q
command = ["sh", "-c", "trap '' TERM; exec sleep 1000"]
stop = { signals = ["TERM"], wait = %q }
`, name, wait.String())
	}
	cfg := faultConfig(t, dir, "", specs)
	r := startRun(t, cfg, runOpts{})
	waitStatus(t, cfg, running(names...))
	// Through the control socket itself: a command line per restart would
	// add its start-up to the run, not to the figure.
	sock := filepath.Join(dir, "run", "control.sock")
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			for range perChild {
				resp, err := control.Call(context.Background(), sock, control.Request{Cmd: control.CmdRestart, Child: name})
				if err != nil || !resp.OK || resp.Stop == nil || !resp.Stop.Killed {
					t.Errorf("restart %s: %v %+v", name, err, resp)
				}
			}
		})
	}
	wg.Wait()
	r.stop(t, syscall.SIGTERM, 30*time.Second)
	var late []time.Duration // KILL after TERM, beyond the wait
	within := 0
	for _, s := range readHistory(t, dir, history.Filter{Events: []history.Event{history.EventStop}}) {
		if len(s.SignalsSent) != 2 || s.SignalsSent[1].Signal != "KILL" {
			t.Errorf("stop of %s pid %d sent %v", s.Child, s.PID, s.SignalsSent)
			continue
		}
		d := s.SignalsSent[1].Time.Sub(s.SignalsSent[0].Time) - wait
		late = append(late, d)
		if d <= 100*time.Millisecond {
			within++
		}
		if d < -time.Millisecond || d > 2*time.Second {
			t.Errorf("stop of %s pid %d: KILL %s after TERM, want %s + at most 2s", s.Child, s.PID, d+wait, wait)
		}
	}
	if len(late) < children*perChild {
		t.Errorf("%d stops in the history, want at least %d", len(late), children*perChild)
	}
	t.Logf("KILL timing: %d/%d KILLs within wait + 100ms; beyond the wait: %s", within, len(late), quantileText(late))
}

// The control socket under abuse: malformed requests (random bytes, a
// line over 64 KiB, half a JSON), 3000 idle connections held open and a
// client sending one byte a second. resreap status answers within 10s
// throughout, and resreap's file descriptors come back down once the
// idle connections time out, while their clients still hold them.
func TestFaultHeldControlSocket(t *testing.T) {
	const idle = 3000
	dir := t.TempDir()
	cfg := faultConfig(t, dir, "", helperChild("svc", "idle"))
	r := startRun(t, cfg, runOpts{})
	waitStatus(t, cfg, running("svc"))
	sock := filepath.Join(dir, "run", "control.sock")
	base := fdCount(r.pid)

	// Status and fd count, every quarter second, from now to the end.
	probeDone := make(chan struct{})
	var probeWG sync.WaitGroup
	var mu sync.Mutex
	var statusTook []time.Duration
	peak := base
	probeWG.Go(func() {
		for {
			select {
			case <-probeDone:
				return
			case <-time.After(250 * time.Millisecond):
			}
			code, out, took := ctl("status", "-c", cfg)
			n := fdCount(r.pid)
			mu.Lock()
			statusTook = append(statusTook, took)
			peak = max(peak, n)
			mu.Unlock()
			if code != 0 || took > 10*time.Second {
				t.Errorf("status under abuse: exit %d after %s: %s", code, took, out)
			}
		}
	})
	defer probeWG.Wait()
	var stopProbe sync.Once
	defer stopProbe.Do(func() { close(probeDone) })

	// Malformed requests each get an answer that says so.
	junk := make([]byte, 4096)
	rand.Read(junk)
	huge := append([]byte(`{"cmd":"status","x":"`), []byte(strings.Repeat("x", 70<<10))...)
	for _, m := range []struct {
		what      string
		data      []byte
		closeSend bool
	}{
		{"random bytes", append(junk, '\n'), false},
		{"a line over 64 KiB", append(huge, "\"}\n"...), false},
		{"half a JSON, then EOF", []byte(`{"cmd":"sta`), true},
	} {
		answer := malformed(t, sock, m.data, m.closeSend)
		if !strings.Contains(answer, `"ok":false`) {
			t.Errorf("%s: answer %q, want an error", m.what, answer)
		}
	}

	// A slowloris: one byte of a status request a second.
	slow, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slowDone := make(chan string, 1)
	go func() {
		defer close(slowDone)
		for _, b := range []byte(`{"cmd":"status"}` + "\n") {
			if _, err := slow.Write([]byte{b}); err != nil {
				slowDone <- "cut off: " + err.Error()
				return
			}
			time.Sleep(time.Second)
		}
		slowDone <- "sent it all"
	}()

	// 3000 connections that say nothing.
	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	opened := time.Now()
	for range idle {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	held := fdCount(r.pid)

	// The server drops them after its read timeout; we keep our ends.
	testchild.WaitFor(t, "resreap's fds back near where they were", func() bool { return fdCount(r.pid) <= base+20 })
	dropped := time.Since(opened)
	slowAnswer := make([]byte, 512)
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, _ := bufio.NewReader(slow).Read(slowAnswer)
	stopProbe.Do(func() { close(probeDone) })
	probeWG.Wait()
	after := fdCount(r.pid)
	mu.Lock()
	defer mu.Unlock()
	if peak > base+idle+100 {
		t.Errorf("resreap held %d fds at the peak, %d before: more than the connections", peak, base)
	}
	if !strings.Contains(string(slowAnswer[:n]), `"ok":false`) {
		t.Errorf("slowloris got %q", slowAnswer[:n])
	}
	if r.exited() {
		t.Fatalf("resreap exited: %s", r.cmd.ProcessState)
	}
	t.Logf("control socket abuse: %d status calls (%s); resreap fds %d before, %d with %d idle connections (peak %d), %d once they timed out after %s (%d now); slowloris: %s",
		len(statusTook), quantileText(statusTook), base, held, idle, peak, fdCount(r.pid), dropped.Round(time.Millisecond), after, <-slowDone)
}

// malformed sends data on a new connection to the control socket (then
// closes its sending side if closeSend) and returns the answer.
func malformed(t *testing.T, sock string, data []byte, closeSend bool) string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		c.Write(data) // the server may answer and hang up before reading it all
		if closeSend {
			c.(*net.UnixConn).CloseWrite()
		}
	}()
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}
