//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Under systemd (Type=notify), resreap says READY=1 only once its required
// child is ready, keeps STATUS= current, pings the watchdog, says
// STOPPING=1 on SIGTERM, and keeps NOTIFY_SOCKET and WATCHDOG_* from its
// children. The test plays systemd: NOTIFY_SOCKET is a datagram socket it
// reads.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify.sock")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	msgs := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()

	ready, envFile := filepath.Join(dir, "ready"), filepath.Join(dir, "child.env")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[[child]]
name     = "db"
command  = ["sleep", "1000"]
ready    = { exec = ["test", "-e", %q], interval = "100ms" }
required = true
start_timeout = "10m"

[[child]]
name    = "envdump"
command = ["sh", "-c", "env > %s; exec sleep 1000"]
`, ready, envFile))
	d := startDaemonEnv(t, cfg, "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=400000")

	// Until db is ready: status lines, watchdog pings, no READY=1.
	got := collect(t, msgs, func(all []string) bool {
		return countPrefix(all, "WATCHDOG=1") >= 2 && anyContains(all, "db (starting)")
	})
	if anyLine(got, "READY=1") {
		t.Fatalf("READY=1 before the required child was ready: %q", got)
	}

	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	collect(t, msgs, func(all []string) bool {
		return anyLine(all, "READY=1") && anyContains(all, "STATUS=2/2 children up")
	})

	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC="} {
		if strings.Contains(string(env), "\n"+k) || strings.HasPrefix(string(env), k) {
			t.Errorf("a child inherited %s", k)
		}
	}

	d.kill(t, 15)
	collect(t, msgs, func(all []string) bool { return anyLine(all, "STOPPING=1") })
}

// collect reads notify messages until done holds for the lines read so
// far (each message split into its lines), and returns them.
func collect(t *testing.T, msgs <-chan string, done func([]string) bool) []string {
	t.Helper()
	var all []string
	deadline := time.After(60 * time.Second)
	for !done(all) {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed; got %q", all)
			}
			all = append(all, strings.Split(m, "\n")...)
		case <-deadline:
			t.Fatalf("notify messages so far: %q", all)
		}
	}
	return all
}

func anyLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func anyContains(lines []string, part string) bool {
	for _, l := range lines {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
