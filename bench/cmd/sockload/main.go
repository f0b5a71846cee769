//go:build linux

// Command sockload fills the host's TCP socket table with loopback sockets
// for benchmarks: N established connections (2 sockets each, both ends held)
// and M sockets in CLOSE_WAIT (a listener accepts and closes, the client end
// is never closed).
//
// One process may hold only so many file descriptors, so the load is spread
// over worker processes (sockload re-executes itself), each with at most
// -per-worker connections. Every worker listens on its own loopback address
// (127.77.0.x, every fourth one on [::1] when IPv6 is available), which keeps
// the 4-tuples unique without exhausting the ephemeral port range.
//
// The CLOSE_WAIT sockets are held by the first worker, which then holds the
// most fds of all; with -close-wait-apart, by a worker of their own that
// holds nothing else (a small leaker beside large healthy processes). The
// worker command lines say which: only the holder has "-close-wait N" with
// N > 0. With -holder-cgroup DIR the holder starts inside that cgroup v2
// directory (clone3 CLONE_INTO_CGROUP), alone there as a systemd service
// is: its sockets then carry that cgroup's id.
//
// sockload prints one line starting with "ready" when every socket is in
// place, then waits. It stops its workers and exits on SIGTERM, SIGINT or
// when its standard input reaches end of file (-watch-stdin=false disables
// that, for use from a shell with stdin at /dev/null).
//
// Established sockets are closed with SO_LINGER 0 (a reset), so stopping a
// large load leaves no TIME_WAIT sockets behind to skew the next measurement.
//
// Usage:
//
//	sockload -sockets 100000 -close-wait 100
//	sockload -sockets 100000 -close-wait 100 -close-wait-apart
//	sockload -conns 5000 -close-wait 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resreap/resreap/bench/harness"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-worker" {
		os.Exit(workerMain(os.Args[2:]))
	}
	os.Exit(mainMain(os.Args[1:]))
}

func mainMain(args []string) int {
	fs := flag.NewFlagSet("sockload", flag.ContinueOnError)
	conns := fs.Int("conns", 0, "established loopback `connections` to hold (2 sockets each)")
	sockets := fs.Int("sockets", 0, "target socket `count`: established sockets + CLOSE_WAIT sockets (overrides -conns)")
	closeWait := fs.Int("close-wait", 100, "CLOSE_WAIT `sockets` to hold")
	apart := fs.Bool("close-wait-apart", false, "hold the CLOSE_WAIT sockets in a worker of their own (default: in the first worker)")
	holderCgroup := fs.String("holder-cgroup", "", "start the worker holding the CLOSE_WAIT sockets inside this cgroup v2 `directory`")
	tag := fs.String("tag", "", "end every worker's command line with \"-tag TAG\", so that a pattern can tell this load's workers from another's")
	perWorker := fs.Int("per-worker", 8500, "at most this many `connections` per worker process (2 fds each)")
	ipv6 := fs.Bool("ipv6", true, "put part of the load on [::1] when IPv6 loopback is available")
	watchStdin := fs.Bool("watch-stdin", true, "exit when standard input reaches end of file")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up if the load is not in place after this `duration`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: sockload [-sockets N | -conns N] [-close-wait M] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *sockets > 0 {
		*conns = (*sockets - *closeWait) / 2
	}
	if *conns < 0 || *closeWait < 0 || *perWorker < 1 {
		fmt.Fprintln(os.Stderr, "sockload: counts must be >= 0 and -per-worker >= 1")
		return 2
	}
	v6 := *ipv6 && loopbackV6()

	plan := planWorkers(*conns, *closeWait, *perWorker, v6, *apart)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sockload:", err)
		return 1
	}

	// stopped ends at SIGTERM, SIGINT or the end of standard input.
	stopped, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; stop() }()
	if *watchStdin {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	}

	var workers []*harness.ReadyProc
	defer func() { stopWorkers(workers) }()
	for _, p := range plan {
		cg := ""
		if p.closeWait > 0 {
			cg = *holderCgroup
		}
		w, err := startWorker(self, p, cg, *tag)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sockload:", err)
			return 1
		}
		workers = append(workers, w)
	}

	// The workers build their shares side by side; the first one to fail
	// ends the wait, whichever it is.
	wait, cancel := context.WithTimeout(stopped, *timeout)
	defer cancel()
	ready := make(chan error, len(workers))
	for i, w := range workers {
		go func() {
			if _, err := w.WaitReady(wait); err != nil {
				ready <- fmt.Errorf("worker on %s: %w", plan[i].addr, err)
				return
			}
			ready <- nil
		}()
	}
	for range workers {
		switch err := <-ready; {
		case stopped.Err() != nil:
			return 0
		case errors.Is(err, context.DeadlineExceeded):
			fmt.Fprintf(os.Stderr, "sockload: load not in place after %s\n", *timeout)
			return 1
		case err != nil:
			fmt.Fprintln(os.Stderr, "sockload:", err)
			return 1
		}
	}
	pids := make([]string, len(workers))
	for i, w := range workers {
		pids[i] = strconv.Itoa(w.Cmd.Process.Pid)
	}
	fmt.Printf("ready sockets=%d established=%d close_wait=%d workers=%d pids=%s\n",
		2**conns+*closeWait, 2**conns, *closeWait, len(workers), strings.Join(pids, ","))

	exited := make(chan error, len(workers))
	for _, w := range workers {
		go func() { <-w.Done(); exited <- fmt.Errorf("worker %d exited: %v", w.Cmd.Process.Pid, w.Err()) }()
	}
	select {
	case <-stopped.Done():
		return 0
	case err := <-exited:
		fmt.Fprintln(os.Stderr, "sockload:", err)
		return 1
	}
}

// workerPlan is the share of one worker process.
type workerPlan struct {
	addr      string // listen address, no port ("127.77.0.3" or "::1")
	conns     int
	closeWait int
	cwAddr6   bool // put half of the CLOSE_WAIT sockets on [::1]
}

func planWorkers(conns, closeWait, perWorker int, v6, apart bool) []workerPlan {
	n := (conns + perWorker - 1) / perWorker
	if n == 0 && closeWait > 0 {
		n = 1
	}
	if n > 249 {
		n = 249 // 127.77.0.1-249, and one more apart; -per-worker would have to be raised
	}
	plan := make([]workerPlan, n)
	for i := range plan {
		plan[i].addr = fmt.Sprintf("127.77.0.%d", i+1)
		if v6 && i%4 == 3 {
			plan[i].addr = "::1"
		}
		plan[i].conns = conns / n
		if i < conns%n {
			plan[i].conns++
		}
	}
	switch {
	case apart && closeWait > 0 && conns > 0:
		plan = append(plan, workerPlan{addr: fmt.Sprintf("127.77.0.%d", n+1), closeWait: closeWait, cwAddr6: v6})
	case n > 0:
		plan[0].closeWait = closeWait
		plan[0].cwAddr6 = v6
	}
	return plan
}

func loopbackV6() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// startWorker starts the worker process of one share of the load, inside
// the cgroup directory cgroup when it is not "", its command line ending
// with "-tag TAG" when tag is not "".
func startWorker(self string, p workerPlan, cgroup, tag string) (*harness.ReadyProc, error) {
	args := []string{"-worker",
		"-addr", p.addr,
		"-conns", strconv.Itoa(p.conns),
		"-close-wait", strconv.Itoa(p.closeWait),
		"-cw6=" + strconv.FormatBool(p.cwAddr6)}
	if tag != "" {
		args = append(args, "-tag", tag)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if cgroup != "" {
		dir, err := os.Open(cgroup)
		if err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
		defer dir.Close() // only needed until the clone
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(dir.Fd())
	}
	w, err := harness.StartReady(cmd)
	if err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	return w, nil
}

// stopWorkers sends SIGTERM to every worker and closes its stdin, then
// kills those still running after 5 seconds.
func stopWorkers(ws []*harness.ReadyProc) {
	for _, w := range ws {
		_ = w.Cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, w := range ws {
		w.Stop(deadline)
	}
}

// workerMain holds one worker's share of the load until stdin closes or a
// signal arrives.
func workerMain(args []string) int {
	fs := flag.NewFlagSet("sockload worker", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1", "listen address")
	conns := fs.Int("conns", 0, "established connections")
	closeWait := fs.Int("close-wait", 0, "CLOSE_WAIT sockets")
	cw6 := fs.Bool("cw6", false, "put half of the CLOSE_WAIT sockets on [::1]")
	fs.String("tag", "", "a mark on the command line, unused")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := raiseNofile(2**conns + *closeWait + 64); err != nil {
		fmt.Fprintln(os.Stderr, "sockload worker:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	var held []*net.TCPConn
	if *conns > 0 {
		c, err := establish(*addr, *conns)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sockload worker %s: %v\n", *addr, err)
			return 1
		}
		held = c
	}
	var cw []*net.TCPConn
	if *closeWait > 0 {
		n6 := 0
		if *cw6 {
			n6 = *closeWait / 2
		}
		for _, part := range []struct {
			addr string
			n    int
		}{{"127.0.0.1", *closeWait - n6}, {"::1", n6}} {
			if part.n == 0 {
				continue
			}
			c, err := makeCloseWait(part.addr, part.n)
			if err != nil {
				fmt.Fprintf(os.Stderr, "sockload worker %s: close-wait: %v\n", part.addr, err)
				return 1
			}
			cw = append(cw, c...)
		}
	}
	fmt.Printf("ready conns=%d close_wait=%d\n", *conns, len(cw))

	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-sigs:
	case <-done:
	}
	// The sockets must stay reachable until here, or their finalizers would
	// close them. Linger 0 is set on the established ones: exit closes them
	// with a reset.
	runtime.KeepAlive(held)
	runtime.KeepAlive(cw)
	return 0
}

// raiseNofile makes sure the soft RLIMIT_NOFILE allows need descriptors.
func raiseNofile(need int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur >= uint64(need) {
		return nil
	}
	if rl.Max < uint64(need) {
		return fmt.Errorf("needs %d file descriptors, hard limit is %d: lower -per-worker", need, rl.Max)
	}
	rl.Cur = rl.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// establish opens n connections to a listener of its own on addr and keeps
// both ends.
func establish(addr string, n int) ([]*net.TCPConn, error) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(addr)})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	accepted := make(chan []*net.TCPConn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		out := make([]*net.TCPConn, 0, n)
		for len(out) < n {
			c, err := l.AcceptTCP()
			if err != nil {
				acceptErr <- err
				return
			}
			hold(c)
			out = append(out, c)
		}
		accepted <- out
	}()
	target := l.Addr().(*net.TCPAddr)
	out := make([]*net.TCPConn, 0, 2*n)
	for i := 0; i < n; i++ {
		c, err := dialRetry(target)
		if err != nil {
			return nil, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
		hold(c)
		out = append(out, c)
	}
	select {
	case a := <-accepted:
		return append(out, a...), nil
	case err := <-acceptErr:
		return nil, err
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("accepted fewer than %d connections", n)
	}
}

// hold prepares a socket to be held, unchanged, for as long as the load
// runs. Linger 0: it is closed with a reset on exit, leaving no TIME_WAIT
// behind. No keepalive: Go turns it on (a probe after 15 s idle), and
// probes change the table under measurement. A CLOSE_WAIT socket's probe
// meets a peer gone since its FIN_WAIT2 timed out (60 s) and is reset; of
// 100k idle loopback connections, thousands of probes went unanswered and
// the connections were dropped after 150 s (9 probes 15 s apart).
func hold(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.SetKeepAlive(false)
}

func dialRetry(target *net.TCPAddr) (*net.TCPConn, error) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var c *net.TCPConn
		if c, err = net.DialTCP("tcp", nil, target); err == nil {
			return c, nil
		}
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
	}
	return nil, err
}

// makeCloseWait returns n client sockets in CLOSE_WAIT: the server side
// accepts and closes at once, the client reads the FIN and is never closed.
func makeCloseWait(addr string, n int) ([]*net.TCPConn, error) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(addr)})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	target := l.Addr().(*net.TCPAddr)
	out := make([]*net.TCPConn, 0, n)
	buf := make([]byte, 1)
	for i := 0; i < n; i++ {
		c, err := dialRetry(target)
		if err != nil {
			return nil, err
		}
		// Reading end of file means the FIN arrived: the socket is in CLOSE_WAIT.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(buf); err != io.EOF {
			return nil, fmt.Errorf("expected end of file from the closing listener, got %v", err)
		}
		hold(c)
		out = append(out, c)
	}
	return out, nil
}
