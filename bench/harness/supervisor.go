//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resreap/resreap/internal/history"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// supervisorRun is a `resreap run` started on a configuration of its own in
// a temporary directory.
type supervisorRun struct {
	dir     string
	history string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error
}

// startSupervisor writes the [supervisor] table (state under dir) followed by
// children, and starts `resreap run` on it with its output in dir/resreap.log
// and env added to the harness's environment.
func startSupervisor(resreap, dir, children string, env ...string) (*supervisorRun, error) {
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, err
	}
	s := &supervisorRun{dir: dir, history: filepath.Join(state, "history.jsonl"), done: make(chan struct{})}
	conf := fmt.Sprintf("[supervisor]\nstate_dir = %q\nhistory_file = %q\ncontrol_socket = %q\n\n%s",
		state, s.history, filepath.Join(state, "control.sock"), children)
	cfg := filepath.Join(dir, "resreap.toml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "resreap.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(resreap, "run", "-c", cfg, "--log-format", "json")
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Its own process group, so that a supervisor that does not stop can be
	// killed with everything it started; it goes when the harness goes.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start resreap run: %w", err)
	}
	s.started = time.Now()
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	return s, nil
}

func (s *supervisorRun) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM (resreap stops its children) and waits; after 30
// seconds it kills the whole process group.
func (s *supervisorRun) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return
	case <-time.After(30 * time.Second):
	}
	_ = syscall.Kill(-s.pid(), syscall.SIGKILL)
	<-s.done
}

// exited returns an error describing the supervisor's exit if it is gone.
func (s *supervisorRun) exited() error {
	select {
	case <-s.done:
		return fmt.Errorf("resreap run exited (%v); log: %s", s.err, s.logTail())
	default:
		return nil
	}
}

func (s *supervisorRun) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "resreap.log"))
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}

// records reads the supervisor's history.
func (s *supervisorRun) records() ([]history.Record, error) {
	recs, _, err := history.Read(s.history, history.Filter{})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return recs, err
}

// waitFor polls cond every 50 ms until it holds, the supervisor exits or the
// timeout passes.
func (s *supervisorRun) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := s.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s; log: %s", timeout, what, s.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func countEvents(recs []history.Record, ev history.Event) int {
	n := 0
	for _, r := range recs {
		if r.Event == ev {
			n++
		}
	}
	return n
}

// IdleResult is the supervisor's own footprint while it supervises idle
// children.
type IdleResult struct {
	Binary     string // `resreap version` of the binary measured
	Health     bool   // health checks on
	Children   int
	Duration   time.Duration // measured span
	Sockets    int           // TCP sockets on the host during the measurement
	RSSMedian  int           // kB, of one sample per second
	RSSMax     int           // kB
	HWM        int           // kB, VmHWM at the end
	Threads    int
	CPUSeconds float64 // utime + stime over Duration
	CPUPercent float64 // of one core
	Events     int     // history events other than the initial starts (expected 0)
	Reader     string  // socket table reader the supervisor reported
	GC         GCTrace // the Go runtime's collections (GODEBUG=gctrace=1)
}

// MeasureIdle runs `resreap run` with children copies of `sleep infinity`
// and a health check every second (or none: health false), waits for them
// to start and settle, then samples the supervisor's RSS every second for
// dur and its CPU time at both ends. The supervisor runs with
// GODEBUG=gctrace=1: its log then says how large the Go heap was after
// each collection, and what the next one was set to wait for.
func MeasureIdle(ctx context.Context, resreap, dir string, children int, dur time.Duration, health bool) (IdleResult, error) {
	var b strings.Builder
	b.WriteString(`[defaults]
restart = "always"
start_seconds = "1s"

[defaults.health]
interval = "1s"
`)
	if health {
		b.WriteString("close_wait = { threshold = 2, persist = 2 }\nfds = { max_ratio = 0.9, persist = 2 }\n")
	} else {
		b.WriteString("close_wait = { enabled = false }\nfds = { enabled = false }\n")
	}
	for i := 1; i <= children; i++ {
		fmt.Fprintf(&b, "\n[[child]]\nname = \"idle-%02d\"\ncommand = [\"sleep\", \"infinity\"]\n", i)
	}
	s, err := startSupervisor(resreap, dir, b.String(), "GODEBUG=gctrace=1")
	if err != nil {
		return IdleResult{}, err
	}
	defer s.stop()
	res := IdleResult{Binary: firstLine(resreap, "version"), Health: health, Children: children}
	err = s.waitFor(ctx, 60*time.Second, fmt.Sprintf("%d children to start", children), func() (bool, error) {
		recs, err := s.records()
		return countEvents(recs, history.EventStart) >= children, err
	})
	if err != nil {
		return res, err
	}
	// Past start_seconds, and a few health scans in.
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return res, err
	}
	cpu0, err := procCPU(s.pid())
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	var rss []float64
	for time.Since(t0) < dur {
		if err := sleepCtx(ctx, time.Second); err != nil {
			return res, err
		}
		st, err := procStatus(s.pid())
		if err != nil {
			return res, fmt.Errorf("resreap run: %w; log: %s", err, s.logTail())
		}
		rss = append(rss, float64(st["VmRSS"]))
		res.HWM, res.Threads = st["VmHWM"], st["Threads"]
	}
	cpu1, err := procCPU(s.pid())
	if err != nil {
		return res, err
	}
	res.Duration = time.Since(t0)
	res.Sockets, _, _ = CountSockets()
	res.RSSMedian = int(median(rss))
	_, hi := minMax(rss)
	res.RSSMax = int(hi)
	res.CPUSeconds = float64(cpu1-cpu0) / clockTicks
	res.CPUPercent = 100 * res.CPUSeconds / res.Duration.Seconds()
	recs, err := s.records()
	if err != nil {
		return res, err
	}
	res.Events = len(recs) - countEvents(recs, history.EventStart)
	log := filepath.Join(dir, "resreap.log")
	res.Reader = logField(log, "health scan ready", "source")
	if b, err := os.ReadFile(log); err == nil {
		from := t0.Sub(s.started)
		res.GC = parseGCTrace(b, from, from+res.Duration)
	}
	return res, nil
}

// procCPU returns utime + stime of pid in clock ticks.
func procCPU(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// procStatus returns the numeric fields of /proc/PID/status (kB for sizes).
func procStatus(pid int) (map[string]int, error) {
	return procFields(pid, "status")
}

// procFields returns the numeric fields ("Key:  123 kB") of /proc/PID/file.
func procFields(pid int, file string) (map[string]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if f := strings.Fields(v); len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				out[k] = n
			}
		}
	}
	return out, nil
}

// logField returns the value of key in the first JSON log line whose message
// contains msg, or "".
func logField(path, msg, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		needle := `"` + key + `":"`
		if i := strings.Index(line, needle); i >= 0 {
			rest := line[i+len(needle):]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				return rest[:j]
			}
		}
	}
	return ""
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
