//go:build linux

package testchild

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Etcd is a real etcd server (Debian's etcd-server, /usr/bin/etcd) on
// loopback, with a data directory and ports of its own: what the fleet
// tests and the fleet bench run against, never a mock.
type Etcd struct {
	// Endpoint is its client URL, http://127.0.0.1:PORT.
	Endpoint string
	bin, dir string
	args     []string
	cmd      *exec.Cmd
	done     chan struct{}
	log      *os.File
}

// NeedEtcd returns the etcd binary, or fails (in CI) or skips the test:
// `make test-deps` installs it.
func NeedEtcd(tb testing.TB) string {
	tb.Helper()
	return NeedCommand(tb, "etcd")
}

// StartEtcd starts an etcd for the test and stops it, and removes its
// data, at the test's end.
func StartEtcd(tb testing.TB) *Etcd {
	tb.Helper()
	bin := NeedEtcd(tb)
	e, err := LaunchEtcd(bin, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// LaunchEtcd starts etcd from bin with its data and log in dir, on free
// loopback ports, and waits until it answers /health.
func LaunchEtcd(bin, dir string) (*Etcd, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	e := &Etcd{Endpoint: client, bin: bin, dir: dir, args: []string{
		"--name", "test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test=" + peer, "--logger", "zap", "--log-level", "warn",
		// The default timing: etcd raises any lease TTL to 1.5 election
		// timeouts (2s with the default 1s), and the tests' leases are
		// 2s.
	}}
	if err := e.Start(); err != nil {
		return nil, err
	}
	return e, nil
}

// Start (re)starts the server on its ports and data, and waits until it
// answers.
func (e *Etcd) Start() error {
	log, err := os.OpenFile(filepath.Join(e.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	e.log = log
	e.cmd = exec.Command(e.bin, e.args...)
	e.cmd.Stdout, e.cmd.Stderr = log, log
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start etcd: %w", err)
	}
	e.done = make(chan struct{})
	go func() { e.cmd.Wait(); close(e.done) }() //nolint:errcheck // a killed etcd exits non-zero
	deadline := time.Now().Add(30 * time.Second)
	for {
		if e.healthy() {
			return nil
		}
		select {
		case <-e.done:
			return fmt.Errorf("etcd exited at start: %s", e.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			e.Stop()
			return fmt.Errorf("etcd not healthy within 30s: %s", e.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *Etcd) healthy() bool {
	c := http.Client{Timeout: time.Second}
	r, err := c.Get(e.Endpoint + "/health")
	if err != nil {
		return false
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r.StatusCode == http.StatusOK && strings.Contains(string(body), `"true"`)
}

// Stop kills the server (SIGKILL: a crash, or a network gone) and waits
// for it; its data stays for Start.
func (e *Etcd) Stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	<-e.done
	e.log.Close()
	e.cmd = nil
}

// Close stops the server and removes its data.
func (e *Etcd) Close() {
	e.Stop()
	_ = os.RemoveAll(filepath.Join(e.dir, "data"))
}

// LogTail is the end of the server's log, for a failure.
func (e *Etcd) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "etcd.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// freePorts returns n loopback ports free a moment ago. Another process
// may take one before etcd binds it; then etcd exits at start and the
// test fails with its log, which says so.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Join(errors.New("no free port"), err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
