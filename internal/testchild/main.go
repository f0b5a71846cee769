//go:build linux

package testchild

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The environment that makes the test binary a helper, and the parameters
// of its modes.
const (
	ModeEnv    = "RESREAP_TESTCHILD"         // the mode; unset in the test itself
	AddrEnv    = "RESREAP_TESTCHILD_ADDR"    // leak, parent: addresses to connect to, comma-separated
	NEnv       = "RESREAP_TESTCHILD_N"       // leak, parent, pairs, netns: connections (per address); fds: fds to hold; lines: lines; pid-reuse: PIDs to recycle
	LimitEnv   = "RESREAP_TESTCHILD_LIMIT"   // fds: the soft RLIMIT_NOFILE to set first
	CodeEnv    = "RESREAP_TESTCHILD_CODE"    // exit: the exit code
	AfterEnv   = "RESREAP_TESTCHILD_AFTER"   // exit: how long to run first; closedelay: the delay
	SigLogEnv  = "RESREAP_TESTCHILD_SIGLOG"  // record the signals received in this file, one name per line
	OnTermEnv  = "RESREAP_TESTCHILD_ONTERM"  // with SigLogEnv: "ignore" keeps running on TERM (default: exit 0)
	StreamEnv  = "RESREAP_TESTCHILD_STREAM"  // lines: "stderr" prints there (default stdout)
	PIDFileEnv = "RESREAP_TESTCHILD_PIDFILE" // pid-reuse: the file the hook writes its PID to
	stdinEnv   = "RESREAP_TESTCHILD_STDIN"   // set by Start: exit when stdin closes; "close" closes what is held
)

// held keeps the helper's files reachable: a net.Conn or *os.File that is
// garbage collected is closed by its finalizer, which would end the
// CLOSE_WAIT under test.
var held []io.Closer

// Main runs the helper when ModeEnv is set, and exits; otherwise it
// returns at once. Call it first in TestMain (after anything that must run
// before it, such as proc.RunExecShim).
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
//	fdgrow        lower the soft RLIMIT_NOFILE to LimitEnv, then open one fd every AfterEnv: a
//	              steady leak up to the limit, or with NEnv > 0 a sawtooth: up to NEnv more fds,
//	              all closed, again
//	pairs         hold NEnv established loopback connections, both ends
//	netns         in a new network namespace (CLONE_NEWNET), bring lo up and leak NEnv sockets to itself
//	netns-parent  start a netns grandchild in a new network namespace, which prints the ready line
//	listen        listen on 127.0.0.1:0: "ready <pid> port <port>"
//	closedelay    a well-behaved server on AddrEnv: it closes each connection AfterEnv after the peer hung up
//	forkserver    a pre-fork server like nginx: listen on AddrEnv, start NEnv worker processes in
//	              sessions of their own that share the socket and answer "hello <pid>":
//	              "ready <pid> workers <pid>..."
//	lines         after the ready line, print NEnv numbered lines ("line 1", "line 2", ...; for
//	              ever when 0) as fast as it can, to stdout or with StreamEnv=stderr to stderr;
//	              then idle
//	leave-group   ignore SIGTERM and leave its own process group for its parent's
//	              (setpgid into getpgid(getppid())), as a careless daemon does: "ready <pid> pgid <pgid>"
//	activation    an HTTP server on the sockets of LISTEN_FDS that drains on TERM (see serveActivated)
//	tableflip     activation that hands over to a successor on USR2 (see serveActivated)
//	pid-reuse     a scenario, not a helper: no ready line. As PID 1 of a PID namespace it runs the
//	              command after "--" in os.Args, with its log on stderr: a resreap run whose
//	              before_restart hook writes its PID to PIDFileEnv, then exits leaving a setsid
//	              process that holds its output. Each round it waits for the hook to be reaped,
//	              makes the hook's PID the namespace's next (ns_last_pid), forks a stranger that
//	              calls setsid, so that the stranger's PID and process group ID are the hook's,
//	              and waits for resreap's next start event; until NEnv strangers got the hook's PID
//	              (at most 3 x NEnv rounds). Then it stops resreap with SIGTERM and prints
//	              "pid-reuse rounds <n> recycled <n> alive-after-restart <n> alive-after-shutdown <n>"
func Main() {
	mode := os.Getenv(ModeEnv)
	if mode == "" {
		return
	}
	os.Exit(run(mode))
}

func run(mode string) int {
	switch mode {
	case "pid-reuse":
		n, _ := strconv.Atoi(os.Getenv(NEnv))
		return pidReuse(n, os.Getenv(PIDFileEnv))
	case "activation", "tableflip":
		return serveActivated(mode)
	}
	extra, err := setUp(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testchild:", err)
		return 3
	}
	if path := os.Getenv(SigLogEnv); path != "" {
		// Notify before the ready line, not in the goroutine: a signal sent
		// as soon as the line is out must be logged, not kill the helper.
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2, unix.SIGINT)
		go logSignals(sigs, path, os.Getenv(OnTermEnv) == "ignore")
	}
	if mode != "parent" && mode != "netns-parent" {
		fmt.Println(append([]any{"ready", os.Getpid()}, extra...)...)
	}
	switch mode {
	case "exit":
		d, _ := time.ParseDuration(os.Getenv(AfterEnv))
		time.Sleep(d)
		code, _ := strconv.Atoi(os.Getenv(CodeEnv))
		return code
	case "lines":
		out := os.Stdout
		if os.Getenv(StreamEnv) == "stderr" {
			out = os.Stderr
		}
		n, _ := strconv.Atoi(os.Getenv(NEnv))
		if err := printLines(out, n); err != nil {
			return 1
		}
	case "fdgrow":
		d, _ := time.ParseDuration(os.Getenv(AfterEnv))
		n, _ := strconv.Atoi(os.Getenv(NEnv))
		limit, _ := strconv.ParseUint(os.Getenv(LimitEnv), 10, 64)
		err := fdGrow(limit, d, n) // returns only on failure
		fmt.Fprintln(os.Stderr, "testchild:", err)
		return 3
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
	case "idle", "sleep", "exit", "lines", "fdgrow":
	case "ignore-term", "quit-exits":
		signal.Ignore(unix.SIGTERM)
	case "leave-group":
		signal.Ignore(unix.SIGTERM)
		pgid, err := unix.Getpgid(os.Getppid())
		if err == nil {
			err = unix.Setpgid(0, pgid)
		}
		return []any{"pgid", pgid}, err
	case "grandchild":
		signal.Ignore(unix.SIGTERM)
		pid, err := startSelf("ignore-term", false, 0)
		return []any{"grandchild", pid}, err
	case "leak":
		for _, a := range strings.Split(os.Getenv(AddrEnv), ",") {
			if err := leak(a, n); err != nil {
				return nil, err
			}
		}
	case "parent":
		_, err := startSelf("leak", true, 0)
		return nil, err
	case "netns-parent":
		_, err := startSelf("netns", true, syscall.CLONE_NEWNET)
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
func startSelf(mode string, stdinPipe bool, cloneflags uintptr) (int, error) {
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
	return syscall.ForkExec(os.Args[0], os.Args, &syscall.ProcAttr{Env: env, Files: files,
		Sys: &syscall.SysProcAttr{Cloneflags: cloneflags}})
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

// fdGrow lowers the soft RLIMIT_NOFILE to limit, then opens one fd every
// d until the limit (teeth == 0), or for ever in teeth of n fds opened
// then closed together.
func fdGrow(limit uint64, d time.Duration, teeth int) error {
	if err := openFDs(limit, 0); err != nil {
		return err
	}
	var open []*os.File
	for {
		time.Sleep(d)
		if teeth > 0 && len(open) == teeth {
			for _, f := range open {
				f.Close()
			}
			open = open[:0]
			continue
		}
		f, err := os.Open(os.DevNull)
		if err != nil {
			select {} // at the limit: stay there, as a leaking server does
		}
		open = append(open, f)
	}
}

// holdPairs holds n established loopback connections, both ends.
func holdPairs(n int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	held = append(held, ln)
	return connectPairs(ln, n, true)
}

// connectPairs makes n connections to ln and holds the client ends, and
// with keepServer the server ends too; without, the server ends are
// closed: the clients then sit in CLOSE_WAIT.
func connectPairs(ln net.Listener, n int, keepServer bool) error {
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := ln.Accept()
		if err != nil {
			return err
		}
		held = append(held, c)
		if keepServer {
			held = append(held, s)
		} else {
			s.Close()
		}
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
	return connectPairs(ln, n, false)
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
	serve(ln, func(c net.Conn) {
		fmt.Fprintf(c, "hello %d\n", os.Getpid())
		c.Close()
	})
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
	serve(ln, func(c net.Conn) {
		go func() {
			io.Copy(io.Discard, c) //nolint:errcheck // EOF: the peer hung up
			time.Sleep(delay)
			c.Close()
		}()
	})
	return nil
}

// serve keeps ln for the helper's life and hands every connection it
// accepts to handle, from a goroutine of its own.
func serve(ln net.Listener, handle func(net.Conn)) {
	held = append(held, ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
}

// logSignals appends the name of every signal received on sigs to path;
// TERM ends the helper unless ignore.
func logSignals(sigs <-chan os.Signal, path string, ignoreTerm bool) {
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

// printLines prints "line 1" to "line n" (for ever when n is 0) to out as
// fast as it can: through a large buffer, so the writes are the pipe's
// size, not a line's.
func printLines(out *os.File, n int) error {
	w := bufio.NewWriterSize(out, 64<<10)
	b := make([]byte, 0, 32)
	for i := 1; n == 0 || i <= n; i++ {
		b = strconv.AppendInt(append(b[:0], "line "...), int64(i), 10)
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return w.Flush()
}

// pidReuse is the pid-reuse scenario (see Main): it proves that nothing
// resreap does after reaping a hook reaches the process that gets the
// hook's PID and process group ID next. It runs as PID 1 of a PID
// namespace, where it alone decides which PID comes next.
func pidReuse(n int, pidFile string) int {
	i := slices.Index(os.Args, "--")
	sleep, err := exec.LookPath("sleep")
	if i < 0 || pidFile == "" || err != nil {
		fmt.Fprintln(os.Stderr, "pid-reuse: want a command after --, PIDFileEnv and sleep in PATH:", err)
		return 3
	}
	sup := exec.Command(os.Args[0], os.Args[i+1:]...)
	sup.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, ModeEnv+"=") })
	sup.Stdout = os.Stderr
	logs, err := sup.StderrPipe()
	if err == nil {
		err = sup.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pid-reuse:", err)
		return 3
	}
	var starts atomic.Int64 // start events in resreap's log
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			fmt.Fprintln(os.Stderr, sc.Text())
			var ev struct{ Event string }
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "start" {
				starts.Add(1)
			}
		}
	}()

	var rounds, recycled, afterRestart, afterShutdown int
	var strangers []int
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "pid-reuse: "+format+"\n", args...)
		sup.Process.Kill() //nolint:errcheck // the namespace ends with this process anyway
		return 1
	}
	last := 0
	for recycled < n && rounds < 3*n {
		rounds++
		var hook int
		if !poll(60*time.Second, func() bool {
			data, _ := os.ReadFile(pidFile)
			hook, _ = strconv.Atoi(strings.TrimSpace(string(data)))
			return hook != 0 && hook != last
		}) {
			return fail("no hook PID in %s within 60s (round %d)", pidFile, rounds)
		}
		last = hook
		before := starts.Load()
		if !poll(10*time.Second, func() bool { _, err := os.Stat("/proc/" + strconv.Itoa(hook)); return err != nil }) {
			return fail("hook %d not reaped within 10s", hook)
		}
		// The next PID this namespace gives out is the hook's.
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(hook-1)), 0); err != nil {
			return fail("ns_last_pid: %v", err)
		}
		pid, err := syscall.ForkExec(sleep, []string{"sleep", "600"}, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setsid: true}})
		if err != nil {
			return fail("fork the stranger: %v", err)
		}
		if pid != hook {
			// Another fork (a thread of resreap's) took the PID first.
			fmt.Fprintf(os.Stderr, "pid-reuse: round %d: the stranger got pid %d, not the hook's %d\n", rounds, pid, hook)
			reap(pid)
			continue
		}
		recycled++
		strangers = append(strangers, pid)
		fmt.Fprintf(os.Stderr, "pid-reuse: round %d: stranger %d has the PID and process group ID of the reaped hook\n", rounds, pid)
		if !poll(60*time.Second, func() bool { return starts.Load() > before }) {
			return fail("no start after the hook of round %d within 60s", rounds)
		}
		if alive(pid) {
			afterRestart++
		}
	}
	sup.Process.Signal(syscall.SIGTERM) //nolint:errcheck // Wait says how it ended
	<-logDone
	if err := sup.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "pid-reuse: resreap:", err)
	}
	for _, pid := range strangers {
		if alive(pid) {
			afterShutdown++
		}
	}
	fmt.Printf("pid-reuse rounds %d recycled %d alive-after-restart %d alive-after-shutdown %d\n", rounds, recycled, afterRestart, afterShutdown)
	for _, pid := range strangers {
		reap(pid)
	}
	return 0
}

// reap kills and reaps a process this one started.
func reap(pid int) {
	syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // dead already: reaped below all the same
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil) //nolint:errcheck // nothing more to do
}

// alive reports whether pid runs: it exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i > 0 && i+2 < len(data) && data[i+2] != 'Z'
}

// poll checks cond every millisecond until it holds or d has passed, and
// reports whether it held: the scenario races resreap for a PID, so it
// looks often.
func poll(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
