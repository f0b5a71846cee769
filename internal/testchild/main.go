//go:build linux

package testchild

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The environment that makes the test binary a helper, and the parameters
// of its modes.
const (
	ModeEnv   = "RESREAP_TESTCHILD"        // the mode; unset in the test itself
	AddrEnv   = "RESREAP_TESTCHILD_ADDR"   // leak, parent: addresses to connect to, comma-separated
	NEnv      = "RESREAP_TESTCHILD_N"      // leak, parent, pairs, netns: connections (per address); fds: fds to hold
	LimitEnv  = "RESREAP_TESTCHILD_LIMIT"  // fds: the soft RLIMIT_NOFILE to set first
	CodeEnv   = "RESREAP_TESTCHILD_CODE"   // exit: the exit code
	AfterEnv  = "RESREAP_TESTCHILD_AFTER"  // exit: how long to run first; closedelay: the delay
	SigLogEnv = "RESREAP_TESTCHILD_SIGLOG" // record the signals received in this file, one name per line
	OnTermEnv = "RESREAP_TESTCHILD_ONTERM" // with SigLogEnv: "ignore" keeps running on TERM (default: exit 0)
	stdinEnv  = "RESREAP_TESTCHILD_STDIN"  // set by Start: exit when stdin closes; "close" closes what is held
)

// held keeps the helper's files reachable: a net.Conn or *os.File that is
// garbage collected is closed by its finalizer, which would end the
// CLOSE_WAIT under test.
var held []io.Closer

// Main runs the helper when ModeEnv is set, and exits; otherwise it
// returns at once. Call it first in TestMain (after anything that must run
// before it, such as supervisor.RunExecShim).
//
// Modes (each prints "ready <pid>" once set up, unless said otherwise):
//
//	idle, sleep   run until killed (or stdin closes, under Start)
//	ignore-term   idle, ignoring SIGTERM
//	quit-exits    ignore SIGTERM; print "got QUIT, exiting" and exit 0 on SIGQUIT
//	grandchild    ignore SIGTERM and start an ignore-term grandchild: "ready <pid> grandchild <gpid>"
//	exit          exit with CodeEnv after AfterEnv
//	leak          connect NEnv times to each AddrEnv and wait for the peer's FIN: CLOSE_WAIT
//	parent        start a leak grandchild, which prints the ready line
//	fds           lower the soft RLIMIT_NOFILE to LimitEnv, then hold NEnv fds (default 95% of it)
//	pairs         hold NEnv established loopback connections, both ends
//	netns         in a new network namespace (CLONE_NEWNET), bring lo up and leak NEnv sockets to itself
//	listen        listen on 127.0.0.1:0: "ready <pid> port <port>"
//	closedelay    a well-behaved server on AddrEnv: it closes each connection AfterEnv after the peer hung up
//	forkserver    a pre-fork server like nginx: listen on AddrEnv, start NEnv worker processes in
//	              sessions of their own that share the socket and answer "hello <pid>":
//	              "ready <pid> workers <pid>..."
func Main() {
	mode := os.Getenv(ModeEnv)
	if mode == "" {
		return
	}
	os.Exit(run(mode))
}

func run(mode string) int {
	extra, err := setUp(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testchild:", err)
		return 3
	}
	if path := os.Getenv(SigLogEnv); path != "" {
		go logSignals(path, os.Getenv(OnTermEnv) == "ignore")
	}
	if mode != "parent" {
		fmt.Println(append([]any{"ready", os.Getpid()}, extra...)...)
	}
	switch mode {
	case "exit":
		d, _ := time.ParseDuration(os.Getenv(AfterEnv))
		time.Sleep(d)
		code, _ := strconv.Atoi(os.Getenv(CodeEnv))
		return code
	case "quit-exits":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, unix.SIGQUIT)
		<-sigs
		fmt.Println("got QUIT, exiting")
		return 0
	}
	if os.Getenv(stdinEnv) == "" {
		select {}
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
	return 0
}

// setUp does what mode needs before the ready line, and returns what that
// line adds.
func setUp(mode string) ([]any, error) {
	n, _ := strconv.Atoi(os.Getenv(NEnv))
	switch mode {
	case "idle", "sleep", "exit":
	case "ignore-term", "quit-exits":
		signal.Ignore(unix.SIGTERM)
	case "grandchild":
		signal.Ignore(unix.SIGTERM)
		pid, err := startSelf("ignore-term", false)
		return []any{"grandchild", pid}, err
	case "leak":
		for _, a := range strings.Split(os.Getenv(AddrEnv), ",") {
			if err := leak(a, n); err != nil {
				return nil, err
			}
		}
	case "parent":
		_, err := startSelf("leak", true)
		return nil, err
	case "fds":
		limit, _ := strconv.ParseUint(os.Getenv(LimitEnv), 10, 64)
		if n == 0 {
			n = int(0.95 * float64(limit))
		}
		return nil, openFDs(limit, n)
	case "pairs":
		return nil, holdPairs(n)
	case "netns":
		return nil, leakInOwnNetns(n)
	case "forkserver":
		return forkServer(os.Getenv(AddrEnv), n)
	case "worker":
		return nil, serveHello(os.NewFile(3, "listener"))
	case "closedelay":
		delay, _ := time.ParseDuration(os.Getenv(AfterEnv))
		return nil, serveCloseDelay(os.Getenv(AddrEnv), delay)
	case "listen":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, ln)
		return []any{"port", ln.Addr().(*net.TCPAddr).Port}, nil
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	return nil, nil
}

// startSelf starts the test binary in mode as a child of this helper,
// sharing its output; with stdinPipe the child's stdin is a pipe this
// helper holds, so it exits when this helper does.
func startSelf(mode string, stdinPipe bool) (int, error) {
	env := envWith(mode)
	files := []uintptr{0, 1, 2}
	if stdinPipe {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		held = append(held, w)
		files[0] = r.Fd()
		defer r.Close()
		env = append(env, stdinEnv+"=1")
	}
	return syscall.ForkExec(os.Args[0], os.Args, &syscall.ProcAttr{Env: env, Files: files})
}

// envWith is this helper's environment for a helper of its own in mode.
// Go's getenv takes the first of duplicate entries, so the mode (and the
// stdin rule) is replaced, not appended.
func envWith(mode string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, ModeEnv+"=") && !strings.HasPrefix(kv, stdinEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, ModeEnv+"="+mode)
}

// leak connects n times to addr and waits for the peer's FIN on each, so
// that every socket is in CLOSE_WAIT when the helper says ready. It never
// closes them.
func leak(addr string, n int) error {
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		held = append(held, c)
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			return fmt.Errorf("want EOF from the listener, got %v", err)
		}
	}
	return nil
}

// openFDs lowers the soft RLIMIT_NOFILE to limit and holds fds until n are
// open.
func openFDs(limit uint64, n int) error {
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
		if len(ents)-1 >= n { // ReadDir's own fd is listed too
			return nil
		}
		f, err := os.Open(os.DevNull)
		if err != nil {
			return err
		}
		held = append(held, f)
	}
}

// holdPairs holds n established loopback connections, both ends.
func holdPairs(n int) error {
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
		held = append(held, c, s)
	}
	return nil
}

// leakInOwnNetns runs in a child started with CLONE_NEWNET: it brings up
// lo, then leaks CLOSE_WAIT sockets to a listener of its own, sockets that
// exist only in this namespace.
func leakInOwnNetns(n int) error {
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

// forkServer listens on addr and starts n workers that serve it, each in
// a new session (so a process-group signal misses them), as a pre-fork
// server's workers outlive their master.
func forkServer(addr string, n int) ([]any, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	ln.Close()
	held = append(held, f)
	env := envWith("worker")
	out := []any{"workers"}
	for range n {
		pid, err := syscall.ForkExec(os.Args[0], os.Args, &syscall.ProcAttr{
			Env: env, Files: []uintptr{0, 1, 2, f.Fd()}, Sys: &syscall.SysProcAttr{Setsid: true}})
		if err != nil {
			return nil, err
		}
		out = append(out, pid)
	}
	return out, nil
}

// serveHello answers every connection on the listener f with
// "hello <pid>" and closes it.
func serveHello(f *os.File) error {
	ln, err := net.FileListener(f)
	if err != nil {
		return err
	}
	held = append(held, ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello %d\n", os.Getpid())
			c.Close()
		}
	}()
	return nil
}

// serveCloseDelay accepts on addr and closes each connection delay after
// the peer closed its end: meanwhile the socket is in CLOSE_WAIT, as with
// any server that takes a moment to notice, which is not a leak.
func serveCloseDelay(addr string, delay time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	held = append(held, ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c) //nolint:errcheck // EOF: the peer hung up
				time.Sleep(delay)
				c.Close()
			}()
		}
	}()
	return nil
}

// logSignals appends the name of every signal received to path; TERM
// ends the helper unless ignore.
func logSignals(path string, ignoreTerm bool) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2, unix.SIGINT)
	for s := range sigs {
		sig := s.(unix.Signal)
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			fmt.Fprintln(f, strings.TrimPrefix(unix.SignalName(sig), "SIG"))
			f.Close()
		}
		if sig == unix.SIGTERM && !ignoreTerm {
			os.Exit(0)
		}
	}
}
