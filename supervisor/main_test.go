//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/testchild"
)

// testReaper is the one Reaper of the test binary (wait4(-1) is
// process-wide, so every test shares it).
var testReaper *proc.Reaper

func TestMain(m *testing.M) {
	proc.RunExecShim()
	testchild.Main()
	var err error
	testReaper, err = proc.NewReaper(zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	if err != nil {
		panic(err)
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/resreap/resreap/internal/proc.(*Reaper).forkLoop"),
		goleak.IgnoreTopFunction("github.com/resreap/resreap/internal/proc.(*Reaper).reapLoop"),
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
		goleak.IgnoreAnyFunction("os/signal.loop"),
	)
}

// helperSpec is a child running the test binary in a helper mode, with
// quick defaults so that tests do not wait on production timings.
func helperSpec(name, mode string, env ...string) config.ChildSpec {
	spec := config.DefaultChild()
	spec.Name = name
	spec.Command = testchild.Argv("")
	spec.Env = testchild.EnvMap(mode, env...)
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

// waitMatching waits until at least n records of child with event ev are
// in (the supervisor records asynchronously) and returns them all.
func (h *memHistory) waitMatching(t testing.TB, n int, child string, ev history.Event) []history.Record {
	t.Helper()
	h.waitFor(t, 30*time.Second, fmt.Sprintf("%d %s records of %q", n, ev, child), func(recs []history.Record) bool { return count(recs, child, ev) >= n })
	return h.matching(child, ev)
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

// String returns what was written so far.
func (l *lineRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
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
