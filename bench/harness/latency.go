//go:build linux

package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/resreap/resreap/internal/history"
)

// childEvent is one line of benchchild's log: "EVENT PID UNIX_NANOSECONDS".
type childEvent struct {
	Event string
	PID   int
	Time  time.Time
}

func readChildLog(path string) ([]childEvent, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []childEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue // a line being written
		}
		pid, err1 := strconv.Atoi(fields[1])
		ns, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, childEvent{fields[0], pid, time.Unix(0, ns)})
	}
	return out, sc.Err()
}

func countChild(evs []childEvent, event string) int {
	n := 0
	for _, e := range evs {
		if e.Event == event {
			n++
		}
	}
	return n
}

// Latencies summarises a set of durations.
type Latencies struct {
	N                     int
	Min, Median, P99, Max time.Duration
	Mean                  time.Duration
	Samples               []time.Duration `json:"-"`
}

func summarize(ds []time.Duration) Latencies {
	l := Latencies{N: len(ds), Samples: ds}
	if len(ds) == 0 {
		return l
	}
	ms := millis(ds)
	lo, hi := minMax(ms)
	var sum float64
	for _, m := range ms {
		sum += m
	}
	toD := func(m float64) time.Duration { return time.Duration(m * float64(time.Millisecond)) }
	l.Min, l.Max = toD(lo), toD(hi)
	l.Median, l.P99 = toD(median(ms)), toD(quantile(ms, 0.99))
	l.Mean = toD(sum / float64(len(ms)))
	return l
}

// RestartResult is the restart latency of a child that exits at once, with
// zero backoff.
type RestartResult struct {
	// Child: from the exiting child's last timestamp to the first one of
	// the next child, both taken by the children.
	Child Latencies
	// History: from each exit event to the next start event in the
	// history file (millisecond timestamps).
	History Latencies
	// Exec: from the harness's fork of benchchild to its first timestamp;
	// the part of Child that is process creation and Go start-up.
	Exec Latencies
}

// MeasureRestarts runs `resreap run` with one child that exits with status 1
// as soon as it starts, backoff 0 and a start limit out of reach, until it
// has been restarted n times.
func MeasureRestarts(ctx context.Context, resreap, child, dir string, n int) (RestartResult, error) {
	var res RestartResult
	childLog := filepath.Join(dir, "child.log")
	conf := fmt.Sprintf(`[[child]]
name = "crasher"
command = [%q, "restart", "-log", %q]
restart = "always"
start_seconds = "0s"
backoff = { initial = "0s", max = "0s", multiplier = 1.0, jitter = 0.0, reset_after = "1m" }
start_limit = { burst = 10000, interval = "1m" }
`, child, childLog)
	s, err := startSupervisor(resreap, dir, conf)
	if err != nil {
		return res, err
	}
	err = s.waitFor(ctx, 2*time.Minute, fmt.Sprintf("%d restarts", n), func() (bool, error) {
		evs, err := readChildLog(childLog)
		return countChild(evs, "start") > n, err
	})
	s.stop()
	if err != nil {
		return res, err
	}
	evs, err := readChildLog(childLog)
	if err != nil {
		return res, err
	}
	var byChild []time.Duration
	var lastExit *childEvent
	for i := range evs {
		e := &evs[i]
		switch e.Event {
		case "exit":
			lastExit = e
		case "start":
			if lastExit != nil && lastExit.PID != e.PID && len(byChild) < n {
				byChild = append(byChild, e.Time.Sub(lastExit.Time))
			}
			lastExit = nil
		}
	}
	res.Child = summarize(byChild)

	recs, err := s.records()
	if err != nil {
		return res, err
	}
	var hist []time.Duration
	var exitAt time.Time
	for _, r := range recs {
		switch r.Event {
		case history.EventExit:
			exitAt = r.Time
		case history.EventStart:
			if !exitAt.IsZero() && len(hist) < n {
				hist = append(hist, r.Time.Sub(exitAt))
			}
			exitAt = time.Time{}
		}
	}
	res.History = summarize(hist)

	res.Exec, err = measureExec(ctx, child, 50)
	return res, err
}

// measureExec times fork+exec+Go start-up of benchchild from the harness.
func measureExec(ctx context.Context, child string, n int) (Latencies, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		cmd := exec.CommandContext(ctx, child, "stamp")
		t0 := time.Now()
		out, err := cmd.Output()
		if err != nil {
			return Latencies{}, fmt.Errorf("benchchild stamp: %w", err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			return Latencies{}, fmt.Errorf("benchchild stamp: %w", err)
		}
		ds = append(ds, time.Unix(0, ns).Sub(t0))
	}
	return summarize(ds), nil
}

// DetectResult is the time from a CLOSE_WAIT leak to the restart it causes,
// with a health check every second, persist = 2 and threshold = 1.
type DetectResult struct {
	Source      string // health.source: "bpf" or "dump"
	Interval    time.Duration
	Persist     int
	LeakToTerm  Latencies // leak → SIGTERM received by the leaking child
	LeakToStop  Latencies // leak → stop event in the history (child reaped)
	LeakToStart Latencies // leak → first timestamp of the next child
}

// MeasureDetection runs `resreap run` with health.source = source and one
// child that leaks one CLOSE_WAIT socket at a random moment 0.5–1.5 s
// after it starts, until it has been restarted for it n times.
func MeasureDetection(ctx context.Context, resreap, child, dir, source string, n int) (DetectResult, error) {
	res := DetectResult{Source: source, Interval: time.Second, Persist: 2}
	childLog := filepath.Join(dir, "child.log")
	conf := fmt.Sprintf(`[supervisor.health]
source = %q

[[child]]
name = "leaker"
command = [%q, "leak", "-log", %q, "-after-min", "500ms", "-after-max", "1500ms", "-count", "1"]
restart = "always"
start_seconds = "0s"
backoff = { initial = "0s", max = "0s", multiplier = 1.0, jitter = 0.0, reset_after = "1m" }
start_limit = { burst = 1000, interval = "1m" }
stop = { signals = ["TERM"], wait = "2s" }
health = { interval = "1s", close_wait = { threshold = 1, persist = 2 } }
`, source, child, childLog)
	s, err := startSupervisor(resreap, dir, conf)
	if err != nil {
		return res, err
	}
	err = s.waitFor(ctx, time.Duration(n)*6*time.Second+20*time.Second, fmt.Sprintf("%d health restarts", n), func() (bool, error) {
		evs, err := readChildLog(childLog)
		if err != nil {
			return false, err
		}
		// n leaks answered by a TERM, and the child after the last one started.
		return countChild(evs, "term") >= n && countChild(evs, "start") > n, nil
	})
	s.stop()
	if err != nil {
		return res, err
	}
	if have := logField(filepath.Join(dir, "resreap.log"), "health scan ready", "source"); source == "bpf" && have != "bpf" {
		return res, fmt.Errorf("health.source = bpf, but resreap used %q", have)
	}
	evs, err := readChildLog(childLog)
	if err != nil {
		return res, err
	}
	recs, err := s.records()
	if err != nil {
		return res, err
	}
	stopAt := map[int]time.Time{}
	for _, r := range recs {
		if r.Event == history.EventStop && r.Reason == history.ReasonCloseWait {
			stopAt[r.PID] = r.Time
		}
	}
	var toTerm, toStop, toStart []time.Duration
	for i, e := range evs {
		if e.Event != "leak" {
			continue
		}
		var term, next *childEvent
		for j := i + 1; j < len(evs); j++ {
			switch {
			case evs[j].Event == "term" && evs[j].PID == e.PID && term == nil:
				term = &evs[j]
			case evs[j].Event == "start" && evs[j].PID != e.PID && next == nil:
				next = &evs[j]
			}
		}
		if term == nil || next == nil || len(toTerm) >= n {
			continue
		}
		toTerm = append(toTerm, term.Time.Sub(e.Time))
		toStart = append(toStart, next.Time.Sub(e.Time))
		if t, ok := stopAt[e.PID]; ok {
			toStop = append(toStop, t.Sub(e.Time))
		}
	}
	if len(toTerm) == 0 {
		return res, fmt.Errorf("no leak was answered by a restart; log: %s", s.logTail())
	}
	res.LeakToTerm, res.LeakToStop, res.LeakToStart = summarize(toTerm), summarize(toStop), summarize(toStart)
	return res, nil
}
