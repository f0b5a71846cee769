//go:build linux

package watch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/resreap/resreap/health/healthtest"
	"github.com/resreap/resreap/internal/signame"
)

// The test binary re-executes itself as a helper: a process the watch did
// not start, like the ones it watches in production. Parameters come in
// RESREAP_WATCH_* variables; every mode records the signals it gets in
// RESREAP_WATCH_SIGLOG (one name per line), prints "ready <pid>" once set
// up, and exits when its stdin closes, so that a crashed test leaves no
// helper behind.
const (
	helperEnv  = "RESREAP_WATCH_HELPER"
	addrEnv    = "RESREAP_WATCH_ADDR"   // leak: where to connect
	countEnv   = "RESREAP_WATCH_N"      // leak: connections; fds: fds to hold
	limitEnv   = "RESREAP_WATCH_LIMIT"  // fds: soft RLIMIT_NOFILE
	sigLogEnv  = "RESREAP_WATCH_SIGLOG" // file the received signals are appended to
	onTermEnv  = "RESREAP_WATCH_ONTERM" // "exit" (default) or "ignore"
	helperWait = 20 * time.Second       // bound on any wait for a helper
)

// held keeps the helper's files reachable: a net.Conn or *os.File that is
// garbage collected is closed by its finalizer, which would end the
// CLOSE_WAIT under test.
var held []io.Closer

func helperMain(mode string) int {
	var err error
	switch mode {
	case "leak":
		err = leak(os.Getenv(addrEnv), atoi(os.Getenv(countEnv)))
	case "fds":
		err = openFDs(uint64(atoi(os.Getenv(limitEnv))), atoi(os.Getenv(countEnv)))
	case "idle":
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Printf("ready %d\n", os.Getpid())
	for s := range sigs {
		sig := s.(syscall.Signal)
		if f, err := os.OpenFile(os.Getenv(sigLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			fmt.Fprintln(f, signame.Name(sig))
			f.Close()
		}
		if sig == syscall.SIGTERM && os.Getenv(onTermEnv) != "ignore" {
			return 0
		}
	}
	return 0
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

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

// helper is a running helper process.
type helper struct {
	pid    int
	token  string // on its command line, for -f
	sigLog string
	stdin  io.WriteCloser
	done   chan struct{} // closed when it was reaped
	state  *os.ProcessState
}

// startHelper runs the test binary in mode with the extra environment. Its
// command line ends in a token unique to the test, which -f selects; no
// test ever acts on processes it did not start.
func startHelper(t *testing.T, mode string, env ...string) *helper {
	t.Helper()
	h := &helper{
		token:  fmt.Sprintf("watch-helper-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())),
		sigLog: t.TempDir() + "/signals",
		done:   make(chan struct{}),
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", h.token)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, sigLogEnv+"="+h.sigLog)
	// A race-enabled binary sleeps a second at exit by default, which
	// would look like a helper ignoring the signal that ends it.
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.pid = cmd.Process.Pid
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "ready ") {
			err = fmt.Errorf("helper said %q", line)
		}
		ready <- err
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		h.state = cmd.ProcessState
		close(h.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		h.stdin.Close()
		<-h.done
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("helper %s: %v", mode, err)
		}
	case <-time.After(helperWait):
		t.Fatalf("helper %s not ready after %s", mode, helperWait)
	}
	return h
}

// wait waits for the helper to exit and returns how it ended.
func (h *helper) wait(t *testing.T) *os.ProcessState {
	t.Helper()
	select {
	case <-h.done:
		return h.state
	case <-time.After(helperWait):
		t.Fatalf("helper %d still running after %s", h.pid, helperWait)
		return nil
	}
}

// alive reports whether the helper is running (not exited, not a zombie).
func (h *helper) alive() bool {
	select {
	case <-h.done:
		return false
	default:
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return false
	}
	st, err := readStat(fs, h.pid)
	return err == nil && st.State != 'Z'
}

// signals returns the names of the signals the helper recorded.
func (h *helper) signals(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(h.sigLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// leaker starts a helper holding n CLOSE_WAIT sockets.
func leaker(t *testing.T, n int, env ...string) (*helper, string) {
	t.Helper()
	addr := healthtest.ClosingListener(t, "127.0.0.1:0")
	env = append(env, addrEnv+"="+addr, countEnv+"="+strconv.Itoa(n))
	return startHelper(t, "leak", env...), addr
}

// testContext is a context bounded well below the test timeout.
// procFS is the real /proc as procfs reads it.
func procFS(t testing.TB) procfs.FS {
	t.Helper()
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
