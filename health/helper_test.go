//go:build linux

package health

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary re-executes itself as a helper child; the environment
// selects what the helper does. Helpers print "ready <pid>" once set up
// and exit when their stdin closes.
const (
	helperMode = "RESREAP_HEALTH_HELPER"
	helperArg  = "RESREAP_HEALTH_ARG"
)

// held keeps the helper's connections reachable: an unreachable net.Conn
// is closed by its finalizer, which would end the CLOSE_WAIT under test.
var held []io.Closer

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperMode)
	if mode == "" {
		t.Skip("only runs as a helper child")
	}
	if err := runHelper(mode, os.Getenv(helperArg)); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func runHelper(mode, arg string) error {
	switch mode {
	case "leak": // arg: "N addr[,addr...]" — connect N times to each, never close
		n, addrs, _ := strings.Cut(arg, " ")
		count, _ := strconv.Atoi(n)
		for _, a := range strings.Split(addrs, ",") {
			for range count {
				c, err := net.Dial("tcp", a)
				if err != nil {
					return err
				}
				held = append(held, c)
			}
		}
	case "parent": // start a "leak" grandchild with the same arg
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperMode+"=leak")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		held = append(held, stdin)
	case "fds": // arg: soft RLIMIT_NOFILE; open fds up to 95% of it
		limit, _ := strconv.ParseUint(arg, 10, 64)
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return err
		}
		rl.Cur = limit
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return err
		}
		for {
			ents, err := os.ReadDir("/proc/self/fd")
			if err != nil {
				return err
			}
			if float64(len(ents)) >= 0.95*float64(limit) {
				break
			}
			f, err := os.Open(os.DevNull)
			if err != nil {
				return err
			}
			held = append(held, f)
		}
	case "pairs": // arg: N — N established loopback connections, both ends held
		if err := holdPairs(arg); err != nil {
			return err
		}
	case "netns": // arg: N — in a fresh network namespace, leak N to ourselves
		if err := leakInOwnNetns(arg); err != nil {
			return err
		}
	case "idle":
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if mode != "parent" {
		fmt.Printf("ready %d\n", os.Getpid())
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "close" {
			for _, c := range held {
				c.Close()
			}
			held = nil
			fmt.Println("closed")
		}
	}
	return nil
}

func holdPairs(arg string) error {
	n, _ := strconv.Atoi(arg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	held = append(held, ln)
	errc := make(chan error, 1)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				errc <- err
				return
			}
			held = append(held, c)
		}
		errc <- nil
	}()
	var clients []io.Closer
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	if err := <-errc; err != nil {
		return err
	}
	held = append(held, clients...)
	return nil
}

// leakInOwnNetns runs in a child started with CLONE_NEWNET: it brings up
// lo, then leaks CLOSE_WAIT sockets to a listener of its own, sockets that
// exist only in this namespace.
func leakInOwnNetns(arg string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return err
	}
	n, _ := strconv.Atoi(arg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	held = append(held, ln)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := ln.Accept()
		if err != nil {
			return err
		}
		s.Close()
		held = append(held, c)
	}
	return nil
}

// helper is a running helper child.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	pid   int // pid printed on the "ready" line (the grandchild for "parent")
}

// startHelper starts the test binary in mode and waits for its ready line.
// The helper and everything it forked are killed at cleanup: it leads its
// own process group.
func startHelper(tb testing.TB, mode, arg string, cloneflags uintptr) *helper {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperMode+"="+mode, helperArg+"="+arg)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: cloneflags}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(h.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
	}()
	tb.Cleanup(func() {
		stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for range h.lines { // drain so the reader goroutine ends
		}
		wg.Wait()
		cmd.Wait()
	})
	line := h.expect(tb, "ready ")
	h.pid, _ = strconv.Atoi(strings.TrimPrefix(line, "ready "))
	return h
}

// expect waits for the next line starting with prefix.
func (h *helper) expect(tb testing.TB, prefix string) string {
	tb.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				tb.Fatalf("helper exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			tb.Fatalf("helper did not print %q", prefix)
		}
	}
}

func (h *helper) send(tb testing.TB, cmd string) {
	if _, err := io.WriteString(h.stdin, cmd+"\n"); err != nil {
		tb.Fatal(err)
	}
}

// waitFor polls cond until it holds; the deadline is generous because a
// loaded 2-core machine may be slow to deliver a FIN.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
