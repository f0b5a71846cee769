//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/resreap/resreap/internal/history"
)

// Detection latency: leaks at random phases, answered by a SIGTERM after
// persist × interval at most (plus the escalation), never before
// (persist − 1) × interval.
const (
	detectInterval = time.Second
	detectPersist  = 2
	// detectAllowance is what a verdict may come after persist ×
	// interval: the deciding scan's own time (the timer's latency, the
	// dump of the host's sockets, the judgement). The escalation that
	// follows (verdict → TERM) is measured for each leak and added.
	detectAllowance = 100 * time.Millisecond
)

// DetectCase is the detection latency of one build under run or watch.
type DetectCase struct {
	Build string
	Mode  string // "run" or "watch"
	// Latency is leak → SIGTERM received by the leaking process, timed by
	// the process (bench/cmd/benchchild).
	Latency Latencies
	// Escalation is verdict → SIGTERM: from the unhealthy event in the
	// history (millisecond timestamps) to the TERM.
	Escalation Latencies
	// Within counts the leaks whose latency lies in [(persist − 1) ×
	// interval, persist × interval + detectAllowance + the leak's own
	// escalation].
	Within int
}

// measureDetect times cfg.Cost.Leaks leaks of cfg.Cost.Leakers processes
// leaking at once, each one CLOSE_WAIT socket 0.5–1.5 s after it starts:
// under run, children of `resreap run` restarted at each verdict; under
// watch, processes the harness starts again as `resreap watch` stops
// them.
func measureDetect(ctx context.Context, cfg Config, b build, mode, dir string) (DetectCase, error) {
	d := DetectCase{Build: b.Name, Mode: mode}
	log := filepath.Join(dir, "child.log")
	hist := filepath.Join(dir, "history.jsonl")
	n := cfg.Cost.Leaks
	leak := []string{cfg.Child, "leak", "-log", log, "-after-min", "500ms", "-after-max", "1500ms", "-count", "1"}
	enough := func() (bool, error) {
		evs, err := readChildLog(log)
		return countChild(evs, "term") >= n, err
	}
	timeout := time.Duration(n/max(cfg.Cost.Leakers, 1)+2) * 8 * time.Second
	var err error
	switch mode {
	case "run":
		err = detectUnderRun(ctx, b.Path, dir, leak, cfg.Cost.Leakers, timeout, enough)
		hist = filepath.Join(dir, "state", "history.jsonl")
	case "watch":
		err = detectUnderWatch(ctx, b.Path, hist, leak, cfg.Cost.Leakers, n, timeout, enough)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return d, err
	}
	evs, err := readChildLog(log)
	if err != nil {
		return d, err
	}
	recs, _, err := history.Read(hist, history.Filter{})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return d, err
	}
	verdictAt := map[int]time.Time{}
	for _, r := range recs {
		if r.Event == history.EventUnhealthy {
			if _, ok := verdictAt[r.PID]; !ok {
				verdictAt[r.PID] = r.Time
			}
		}
	}
	leakAt := map[int]time.Time{}
	var lat, esc []time.Duration
	lo, hi := time.Duration(detectPersist-1)*detectInterval, time.Duration(detectPersist)*detectInterval+detectAllowance
	for _, e := range evs {
		switch e.Event {
		case "leak":
			leakAt[e.PID] = e.Time
		case "term":
			t0, ok := leakAt[e.PID]
			if !ok || len(lat) >= n {
				continue // stopped before it leaked
			}
			l := e.Time.Sub(t0)
			lat = append(lat, l)
			var e2 time.Duration
			if v, ok := verdictAt[e.PID]; ok {
				e2 = max(e.Time.Sub(v), 0)
				esc = append(esc, e2)
			}
			if l >= lo && l <= hi+e2 {
				d.Within++
			}
		}
	}
	if len(lat) == 0 {
		return d, errors.New("no leak was answered by a TERM")
	}
	d.Latency, d.Escalation = summarize(lat), summarize(esc)
	return d, nil
}

// detectUnderRun runs `resreap run` with k children running leak, until
// done says enough.
func detectUnderRun(ctx context.Context, resreap, dir string, leak []string, k int, timeout time.Duration, done func() (bool, error)) error {
	var b strings.Builder
	for i := range k {
		fmt.Fprintf(&b, `[[child]]
name = "leaker-%02d"
command = [%s]
restart = "always"
start_seconds = "0s"
backoff = { initial = "0s", max = "0s", multiplier = 1.0, jitter = 0.0, reset_after = "1m" }
start_limit = { burst = 10000, interval = "1m" }
stop = { signals = ["TERM"], wait = "2s" }
health = { interval = "%s", close_wait = { threshold = 1, persist = %d } }

`, i, quoteArgs(leak), detectInterval, detectPersist)
	}
	s, err := startSupervisor(resreap, dir, b.String())
	if err != nil {
		return err
	}
	defer s.stop()
	return s.waitFor(ctx, timeout, "the leaks answered", done)
}

// detectUnderWatch runs `resreap watch` on k processes running leak, each
// started again when it exits, until done says enough (n leaks).
func detectUnderWatch(ctx context.Context, resreap, hist string, leak []string, k, n int, timeout time.Duration, done func() (bool, error)) error {
	// Only the leakers of this case: their command line holds the log's
	// path, which nothing else does.
	pattern := regexp.QuoteMeta(strings.Join(leak[1:4], " "))
	w := exec.Command(resreap, "watch", "-f", pattern, "-l", "1", "-i", fmt.Sprint(detectInterval.Seconds()),
		"-s", "TERM", "-w", "2", "--reader", "netlink", "--history", hist)
	w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	var werr strings.Builder
	w.Stderr = &limitedWriter{w: &werr, n: 4096}
	if err := w.Start(); err != nil {
		return fmt.Errorf("resreap watch: %w", err)
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- w.Wait() }()
	defer func() {
		_ = w.Process.Signal(syscall.SIGTERM)
		<-watchDone
	}()

	exited := make(chan struct{}, 2*(n+k)) // never blocks a waiter left behind
	var procs []*exec.Cmd
	start := func() error {
		c := exec.Command(leak[0], leak[1:]...)
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			return err
		}
		procs = append(procs, c)
		go func() { _ = c.Wait(); exited <- struct{}{} }()
		return nil
	}
	defer func() {
		for _, c := range procs {
			_ = c.Process.Kill()
		}
	}()
	for range k {
		if err := start(); err != nil {
			return err
		}
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-watchDone:
			watchDone <- err
			return fmt.Errorf("resreap watch exited: %v: %s", err, werr.String())
		case <-deadline:
			return fmt.Errorf("timed out after %s", timeout)
		case <-exited:
			if ok, err := done(); err != nil || ok {
				return err
			}
			if err := start(); err != nil {
				return err
			}
		case <-tick.C:
			if ok, err := done(); err != nil || ok {
				return err
			}
		}
	}
}

// quoteArgs renders argv as the elements of a TOML array.
func quoteArgs(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, ", ")
}
