//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

// testReaper is the one Reaper of the test binary (wait4(-1) is
// process-wide, so every test shares it).
var testReaper *Reaper

const helperEnv = "RESREAP_TEST_HELPER"

// held keeps a leaking helper's connections reachable: a net.Conn that the
// garbage collector finds unreachable is closed by its finalizer, which
// would end the CLOSE_WAIT the helper is meant to hold.
var held []net.Conn

func TestMain(m *testing.M) {
	RunExecShim()
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode, os.Args))
	}
	var err error
	testReaper, err = NewReaper(zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	if err != nil {
		panic(err)
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/resreap/resreap/supervisor.(*Reaper).forkLoop"),
		goleak.IgnoreTopFunction("github.com/resreap/resreap/supervisor.(*Reaper).reapLoop"),
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
		goleak.IgnoreAnyFunction("os/signal.loop"),
	)
}

// helperMain is the body of a helper child: the test binary re-executed
// with RESREAP_TEST_HELPER set to a mode. Parameters come in RESREAP_TEST_*
// variables. Every mode prints "ready" once it is set up.
func helperMain(mode string, args []string) int {
	ready := func(extra ...any) { fmt.Println(append([]any{"ready", os.Getpid()}, extra...)...) }
	switch mode {
	case "exit": // exit with RESREAP_TEST_CODE after RESREAP_TEST_AFTER
		d, _ := time.ParseDuration(os.Getenv("RESREAP_TEST_AFTER"))
		code, _ := strconv.Atoi(os.Getenv("RESREAP_TEST_CODE"))
		ready()
		time.Sleep(d)
		return code
	case "sleep": // default signal behaviour
		ready()
		select {}
	case "ignore-term":
		signal.Ignore(unix.SIGTERM)
		ready()
		select {}
	case "quit-exits": // ignores TERM, exits 0 on QUIT
		signal.Ignore(unix.SIGTERM)
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, unix.SIGQUIT)
		ready()
		<-sigs
		fmt.Println("got QUIT, exiting")
		return 0
	case "grandchild": // ignores TERM and starts a grandchild that does too
		signal.Ignore(unix.SIGTERM)
		attr := &syscall.ProcAttr{Env: append(os.Environ(), helperEnv+"=ignore-term"), Files: []uintptr{0, 1, 2}}
		pid, err := syscall.ForkExec(args[0], args, attr)
		if err != nil {
			fmt.Println("fork:", err)
			return 1
		}
		ready("grandchild", pid)
		select {}
	case "leak": // leaks RESREAP_TEST_N connections to RESREAP_TEST_ADDR
		n, _ := strconv.Atoi(os.Getenv("RESREAP_TEST_N"))
		for i := 0; i < n; i++ {
			c, err := net.Dial("tcp", os.Getenv("RESREAP_TEST_ADDR"))
			if err != nil {
				fmt.Println("dial:", err)
				return 1
			}
			held = append(held, c)
		}
		ready()
		select {}
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// helperSpec is a child running the test binary in a helper mode, with
// quick defaults so that tests do not wait on production timings.
func helperSpec(name, mode string, env ...string) config.ChildSpec {
	spec := config.DefaultChild()
	spec.Name = name
	spec.Command = []string{os.Args[0], "-test.run=^$"}
	spec.Env = map[string]string{helperEnv: mode}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		spec.Env[k] = v
	}
	spec.StartGrace = 100 * time.Millisecond
	spec.Backoff = config.BackoffSpec{Initial: 50 * time.Millisecond, Max: time.Second, Multiplier: 2, ResetAfter: time.Minute}
	spec.StartLimit = config.StartLimit{Burst: 100, Interval: time.Minute}
	spec.Stop = config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGTERM, Wait: 5 * time.Second}}}
	spec.Health.Policy.CloseWait.Disabled = true
	spec.Health.Policy.FDs.Disabled = true
	return spec
}

// memHistory records events in memory and lets tests wait for them.
type memHistory struct {
	mu      sync.Mutex
	recs    []history.Record
	changed chan struct{}
}

func newMemHistory() *memHistory { return &memHistory{changed: make(chan struct{})} }

func (h *memHistory) Append(r history.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	close(h.changed)
	h.changed = make(chan struct{})
	return nil
}

func (h *memHistory) all() []history.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]history.Record(nil), h.recs...)
}

// matching returns the records of child with one of events.
func (h *memHistory) matching(child string, events ...history.Event) []history.Record {
	var out []history.Record
	for _, r := range h.all() {
		if r.Child != child {
			continue
		}
		for _, e := range events {
			if r.Event == e {
				out = append(out, r)
			}
		}
	}
	return out
}

// waitFor waits until cond holds for the records, or fails the test.
func (h *memHistory) waitFor(t testing.TB, timeout time.Duration, what string, cond func([]history.Record) bool) []history.Record {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		recs := append([]history.Record(nil), h.recs...)
		ch := h.changed
		h.mu.Unlock()
		if cond(recs) {
			return recs
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s; history:\n%s", timeout, what, dumpRecords(recs))
		}
	}
}

func dumpRecords(recs []history.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "  %s %s %s pid=%d reason=%s signal=%s msg=%s\n", r.Time.Format("15:04:05.000"), r.Child, r.Event, r.PID, r.Reason, r.Signal, r.Message)
	}
	return b.String()
}

func count(recs []history.Record, child string, ev history.Event) int {
	n := 0
	for _, r := range recs {
		if r.Child == child && r.Event == ev {
			n++
		}
	}
	return n
}

// lineRecorder collects the children's output lines.
type lineRecorder struct {
	mu      sync.Mutex
	buf     strings.Builder
	changed chan struct{}
}

func newLineRecorder() *lineRecorder { return &lineRecorder{changed: make(chan struct{})} }

func (l *lineRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// waitLine waits for a line containing all parts and returns it.
func (l *lineRecorder) waitLine(t testing.TB, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		text, ch := l.buf.String(), l.changed
		l.mu.Unlock()
	lines:
		for _, line := range strings.Split(text, "\n") {
			for _, p := range parts {
				if !strings.Contains(line, p) {
					continue lines
				}
			}
			return line
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for a line with %q; output:\n%s", parts, text)
		}
	}
}

// harness runs a Supervisor for one test and stops it at cleanup.
type harness struct {
	sup  *Supervisor
	hist *memHistory
	out  *lineRecorder
	stop func()
}

func startSupervisor(t testing.TB, specs ...config.ChildSpec) *harness {
	t.Helper()
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: specs}
	return startConfig(t, cfg, Options{})
}

func startConfig(t testing.TB, cfg *config.Config, opts Options) *harness {
	t.Helper()
	h := &harness{hist: newMemHistory(), out: newLineRecorder()}
	opts.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel).With().Str("test", t.Name()).Logger()
	opts.Reaper, opts.Stdout, opts.Stderr = testReaper, h.out, h.out
	if opts.History == nil {
		opts.History = h.hist
	}
	h.sup = New(cfg, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.sup.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("Run did not return 60s after cancel")
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// waitState polls the child's state (a snapshot read, no sleeping on the
// child's goroutine) until it is want.
func (h *harness) waitState(t *testing.T, name string, want State, timeout time.Duration) ChildStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, st := range h.sup.Status() {
			if st.Name == name && st.State == want {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %s not %s after %s: %+v\nhistory:\n%s", name, want, timeout, h.sup.Status(), dumpRecords(h.hist.all()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still alive after %s", pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
