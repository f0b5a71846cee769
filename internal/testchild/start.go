//go:build linux

package testchild

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeout bounds every wait on a helper: generous, because a loaded 2-core
// machine may be slow to start a race-enabled binary or deliver a FIN.
const Timeout = 30 * time.Second

// Argv is the command line that runs the test binary as a helper; token,
// if not empty, ends it, so that a pattern (the watchdog's -f) can select
// this helper and nothing else.
func Argv(token string) []string {
	argv := []string{os.Args[0], "-test.run=^$"}
	if token != "" {
		argv = append(argv, "--", token)
	}
	return argv
}

// Env returns the environment entries that make the test binary a helper
// in mode, with the parameters in kv ("RESREAP_TESTCHILD_N=3", ...).
func Env(mode string, kv ...string) []string {
	// A race-enabled binary sleeps a second at exit by default, which
	// would look like a helper slow to obey the signal that ends it.
	env := []string{ModeEnv + "=" + mode, "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
	return append(env, kv...)
}

// EnvMap is Env as a map, for a supervisor's child spec.
func EnvMap(mode string, kv ...string) map[string]string {
	m := map[string]string{}
	for _, e := range Env(mode, kv...) {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

// Spec says which helper Start runs.
type Spec struct {
	Mode       string
	N          int      // NEnv, when not 0
	Addr       string   // AddrEnv, when not empty
	Limit      uint64   // LimitEnv, when not 0
	Env        []string // more parameters: "RESREAP_TESTCHILD_ONTERM=ignore", ...
	Token      string   // ends the command line (see Argv)
	Cloneflags uintptr  // e.g. CLONE_NEWNET for the netns mode
	CgroupFD   int      // > 0: start in the cgroup of this directory fd (clone3)
	SigLog     bool     // record received signals (see Child.Signals)
}

// env lists the spec's parameters as environment entries.
func (s Spec) env() []string {
	env := append([]string(nil), s.Env...)
	if s.N != 0 {
		env = append(env, NEnv+"="+strconv.Itoa(s.N))
	}
	if s.Addr != "" {
		env = append(env, AddrEnv+"="+s.Addr)
	}
	if s.Limit != 0 {
		env = append(env, LimitEnv+"="+strconv.FormatUint(s.Limit, 10))
	}
	return env
}

// Child is a helper started by Start.
type Child struct {
	PID    int // from the ready line: the grandchild's for the parent mode
	Cmd    *exec.Cmd
	Ready  string // the ready line
	sigLog string
	stdin  io.WriteCloser

	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced when a line arrives
	eof   bool
	done  chan struct{} // closed when the helper has been reaped
	state *os.ProcessState
}

// Start runs the test binary as the helper spec describes and waits for
// its ready line. The helper leads its own process group and exits when
// its stdin closes; at cleanup its group is killed and it is reaped.
func Start(tb testing.TB, spec Spec) *Child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], Argv(spec.Token)[1:]...)
	cmd.Env = append(append(os.Environ(), Env(spec.Mode, spec.env()...)...), stdinEnv+"=1")
	c := &Child{Cmd: cmd, more: make(chan struct{}), done: make(chan struct{})}
	if spec.SigLog {
		c.sigLog = tb.TempDir() + "/signals"
		cmd.Env = append(cmd.Env, SigLogEnv+"="+c.sigLog)
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: spec.Cloneflags,
		UseCgroupFD: spec.CgroupFD > 0, CgroupFD: spec.CgroupFD}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go c.read(stdout)
	tb.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // gone already
		cmd.Process.Kill()                              //nolint:errcheck // it may have left its group
		c.stdin.Close()
		<-c.done
	})
	c.Ready = c.Expect(tb, "ready ")
	f := strings.Fields(c.Ready)
	c.PID, _ = strconv.Atoi(f[1])
	return c
}

// read collects the helper's output lines, then reaps it.
func (c *Child) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		c.mu.Lock()
		c.lines = append(c.lines, sc.Text())
		close(c.more)
		c.more = make(chan struct{})
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.eof = true
	close(c.more)
	c.mu.Unlock()
	c.Cmd.Wait() //nolint:errcheck // the state says how it ended
	c.state = c.Cmd.ProcessState
	close(c.done)
}

// Expect waits for the next output line that starts with prefix, skipping
// others, and returns it.
func (c *Child) Expect(tb testing.TB, prefix string) string {
	tb.Helper()
	timeout := time.NewTimer(Timeout)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		for len(c.lines) > 0 {
			l := c.lines[0]
			c.lines = c.lines[1:]
			if strings.HasPrefix(l, prefix) {
				c.mu.Unlock()
				return l
			}
		}
		eof, more := c.eof, c.more
		c.mu.Unlock()
		if eof {
			tb.Fatalf("helper %d exited before printing %q", c.Cmd.Process.Pid, prefix)
		}
		select {
		case <-more:
		case <-timeout.C:
			tb.Fatalf("helper %d did not print %q within %s", c.Cmd.Process.Pid, prefix, Timeout)
		}
	}
}

// Send writes a line to the helper's stdin ("close" closes what it holds).
func (c *Child) Send(tb testing.TB, line string) {
	tb.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		tb.Fatal(err)
	}
}

// CloseStdin closes the helper's stdin, which makes it exit.
func (c *Child) CloseStdin() { c.stdin.Close() }

// Wait waits for the helper to exit and returns how it ended.
func (c *Child) Wait(tb testing.TB) *os.ProcessState {
	tb.Helper()
	select {
	case <-c.done:
		return c.state
	case <-time.After(Timeout):
		tb.Fatalf("helper %d still running after %s", c.Cmd.Process.Pid, Timeout)
		return nil
	}
}

// Exited returns a channel closed once the helper has been reaped.
func (c *Child) Exited() <-chan struct{} { return c.done }

// Alive reports whether the helper runs: not reaped, not a zombie.
func (c *Child) Alive() bool {
	select {
	case <-c.done:
		return false
	default:
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(c.Cmd.Process.Pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i > 0 && i+2 < len(data) && data[i+2] != 'Z'
}

// Signals returns the names of the signals the helper recorded (Spec.SigLog).
func (c *Child) Signals(tb testing.TB) []string {
	tb.Helper()
	data, err := os.ReadFile(c.sigLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Fields(string(data))
}

// WaitFor polls cond until it holds, or fails the test after Timeout; for
// conditions no event announces (a socket's state, a file's content).
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	WaitWithin(tb, what, Timeout, cond)
}

// WaitWithin is WaitFor with a bound of the test's choosing, for a
// condition that takes longer than Timeout by design.
func WaitWithin(tb testing.TB, what string, bound time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *Child) String() string { return fmt.Sprintf("helper %d", c.PID) }
