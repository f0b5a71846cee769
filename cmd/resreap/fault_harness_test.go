//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// The fault suite (fault_*_test.go, `make faults`): resreap against its
// own I/O failing, signals that could reach the wrong process, state
// machine corners and abuse, each with real processes. Every test logs the
// figure it measured. This file holds what they share beyond the
// end-to-end harness of main_test.go.

// faultConfig writes a config like writeConfig's, with sup added to its
// [supervisor] table.
func faultConfig(t *testing.T, dir, sup, children string) string {
	t.Helper()
	cfg := fmt.Sprintf(`[supervisor]
state_dir = %[1]q
control_socket = %[2]q
%[3]s

[defaults]
start_seconds = "100ms"
backoff = { initial = "50ms", max = "200ms" }
start_limit = { burst = 1000, interval = "1m" }
stop = { signals = ["TERM"], wait = "1s" }

%[4]s`, dir, filepath.Join(dir, "run", "control.sock"), sup, children)
	path := filepath.Join(dir, "resreap.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokenChild is helperChild with token ending the command line, so that
// procsWith finds every process of the child.
func tokenChild(name, token, mode string, kv ...string) string {
	env := []string{}
	for _, e := range testchild.Env(mode, kv...) {
		k, v, _ := strings.Cut(e, "=")
		env = append(env, fmt.Sprintf("%s = %q", k, v))
	}
	argv := []string{}
	for _, a := range testchild.Argv(token) {
		argv = append(argv, strconv.Quote(a))
	}
	return fmt.Sprintf("[[child]]\nname = %q\ncommand = [%s]\nenv = { %s }\n", name, strings.Join(argv, ", "), strings.Join(env, ", "))
}

// procsWith returns the PIDs of the live processes (zombies aside) that
// have token as an argument.
func procsWith(token string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && slices.Contains(strings.Split(string(data), "\x00"), token) && procState(pid) != 'Z' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procState returns the state letter of pid ('R', 'S', 'Z', ...), or 0
// when there is no such process.
func procState(pid int) byte {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}

// procStat returns field n (1-based, as in proc(5): 5 is the process
// group, 6 the session) of /proc/PID/stat, or -1.
func procStat(pid, n int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(data[i+1:])) // from field 3, the state
	if n < 3 || n-3 >= len(f) {
		return -1
	}
	v, err := strconv.Atoi(f[n-3])
	if err != nil {
		return -1
	}
	return v
}

// fdCount is how many file descriptors pid holds.
func fdCount(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// pipe returns a pipe whose ends are closed at cleanup (again: closing
// one early is what some tests are about).
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// runOpts say how startRun starts `resreap run`.
type runOpts struct {
	// pidNS runs resreap as PID 1 of a new PID namespace (unshare -fp
	// --mount-proc --kill-child).
	pidNS bool
	// mountNS, when set, is a shell script run as root in a private mount
	// namespace (unshare -m --propagation private) before resreap is
	// exec'd there: its mounts vanish with resreap.
	mountNS string
	// stdout and stderr are resreap's, the write ends of the test's pipes
	// (closed here once resreap has them). A nil stdout is discarded; a nil
	// stderr is read and parsed as the log, as startDaemon does: with
	// stalled, only from readLogNow on (or cleanup); log lines starting
	// with skip are read and thrown away.
	stdout, stderr *os.File
	stalled        bool
	skip           string
}

// quickExit makes the race-enabled test binaries this test starts exit
// without the race detector's second of sleep (see testchild.Env).
func quickExit(t *testing.T) {
	if v := os.Getenv("GORACE"); !strings.Contains(v, "atexit_sleep_ms") {
		t.Setenv("GORACE", strings.TrimSpace(v+" atexit_sleep_ms=0"))
	}
}

// faultRun is a `resreap run` started by startRun.
type faultRun struct {
	*daemon
	pid     int    // resreap's PID as seen here: the namespace's init under pidNS
	subtree string // its cgroup subtree, from its status; "" without one
	gate    chan struct{}
	once    sync.Once
	plain   []string // lines of the log that are not JSON (notices, child output), under mu
}

// readLogNow starts reading the log of a run started with stalled.
func (r *faultRun) readLogNow() { r.once.Do(func() { close(r.gate) }) }

// startRun starts `resreap run -c cfg --log-format json` as o says, in a
// process group of its own (so that no signal to its group reaches the
// test), and waits until its control socket answers. At cleanup it is
// sent SIGTERM, waited for, and its cgroup subtree is checked, as
// startDaemon's are.
//
// Every resreap the test starts from then on (this one, and the commands)
// exits at once: a race-enabled binary otherwise sleeps a second at exit,
// which would be counted in every figure the suite measures.
func startRun(t *testing.T, cfg string, o runOpts) *faultRun {
	t.Helper()
	quickExit(t)
	args := []string{"run", "-c", cfg, "--log-format", "json"}
	cmd := resreapCmd(args...)
	switch {
	case o.pidNS:
		testchild.NeedRoot(t)
		cmd.Path = testchild.NeedCommand(t, "unshare")
		cmd.Args = append([]string{"unshare", "-fp", "--mount-proc", "--kill-child", os.Args[0]}, args...)
	case o.mountNS != "":
		testchild.NeedRoot(t)
		cmd.Path = testchild.NeedCommand(t, "unshare")
		cmd.Args = append([]string{"unshare", "-m", "--propagation", "private", "sh", "-ec", o.mountNS + "\nexec \"$0\" \"$@\"", os.Args[0]}, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := &faultRun{daemon: &daemon{cmd: cmd, done: make(chan struct{})}, gate: make(chan struct{})}
	if !o.stalled {
		r.readLogNow()
	}
	if o.stdout != nil {
		cmd.Stdout = o.stdout
	}
	var stderr io.Reader
	if o.stderr != nil {
		cmd.Stderr = o.stderr
	} else {
		var err error
		if stderr, err = cmd.StderrPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*os.File{o.stdout, o.stderr} {
		if f != nil {
			f.Close()
		}
	}
	if stderr != nil {
		go r.readLog(stderr, o.skip)
	} else {
		go func() { cmd.Wait(); close(r.done) }()
	}
	t.Cleanup(func() {
		r.readLogNow()
		r.stop(t, syscall.SIGTERM, 60*time.Second)
		if r.subtree != "" && r.logField("children are owned by cgroup", "cgroup") == "" {
			// The log was not read: tell checkCgroup what the status said.
			r.mu.Lock()
			r.logs = append(r.logs, map[string]any{"message": "children are owned by cgroup", "cgroup": r.subtree})
			r.mu.Unlock()
		}
		r.checkCgroup(t)
	})
	r.pid = cmd.Process.Pid
	if o.pidNS {
		testchild.WaitFor(t, "the namespace's init", func() bool {
			data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", r.pid, r.pid))
			f := strings.Fields(string(data))
			if len(f) == 1 {
				r.pid, _ = strconv.Atoi(f[0])
				return true
			}
			return false
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// The socket answers from before the supervisor has set up how it
		// owns its children: wait for that too.
		st, err := statusOf(t, cfg)
		if err == nil && st.Supervisor.Ownership != "" {
			if st.Supervisor.Ownership == "cgroup" {
				r.subtree = st.Supervisor.OwnershipDetail
			}
			return r
		}
		select {
		case <-r.done:
			t.Fatalf("resreap exited (%s) before its control socket answered:\n%s", cmd.ProcessState, r.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("resreap's control socket did not answer within 60s: %v\n%s", err, r.output())
		}
	}
}

// readLog reads resreap's log once the gate is open, as startDaemon does.
func (r *faultRun) readLog(stderr io.Reader, skip string) {
	defer close(r.done)
	<-r.gate
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if skip != "" && strings.HasPrefix(sc.Text(), skip) {
			continue
		}
		var m map[string]any
		r.mu.Lock()
		r.raw.WriteString(sc.Text() + "\n")
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			r.logs = append(r.logs, m)
		} else {
			r.plain = append(r.plain, sc.Text())
		}
		r.mu.Unlock()
	}
	r.cmd.Wait()
}

// plainMatching returns the first line of the log that is not JSON and
// matches re, or "".
func (r *faultRun) plainMatching(re *regexp.Regexp) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.plain {
		if re.MatchString(l) {
			return l
		}
	}
	return ""
}

// stop sends sig to resreap (the namespace's init under pidNS) unless it
// has exited, and waits up to bound for it to exit; after that it kills
// it and fails the test. It returns how long resreap took.
func (r *faultRun) stop(t *testing.T, sig syscall.Signal, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-r.done:
		return 0
	default:
	}
	syscall.Kill(r.pid, sig)
	select {
	case <-r.done:
		return time.Since(start)
	case <-time.After(bound):
		r.cmd.Process.Kill() // unshare --kill-child takes the namespace with it
		syscall.Kill(r.pid, syscall.SIGKILL)
		<-r.done
		t.Errorf("resreap did not exit %s after %s:\n%s", bound, sig, tail(r.output(), 40))
		return time.Since(start)
	}
}

// exited reports whether resreap has exited.
func (r *faultRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// logsWhere returns the log lines for which match holds.
func (r *faultRun) logsWhere(match func(map[string]any) bool) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, m := range r.logs {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

// waitLogsWhere waits up to 60s until at least n log lines match.
func (r *faultRun) waitLogsWhere(t *testing.T, what string, n int, match func(map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if got := r.logsWhere(match); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d log lines with %s in 60s:\n%s", n, what, tail(r.output(), 60))
		}
		select {
		case <-r.done:
			if got := r.logsWhere(match); len(got) >= n {
				return got
			}
			t.Fatalf("resreap exited (%s) before %d log lines with %s:\n%s", r.cmd.ProcessState, n, what, tail(r.output(), 60))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// statusReply is `resreap status --json` parsed.
type statusReply struct {
	Supervisor struct {
		Ownership       string `json:"ownership"`
		OwnershipDetail string `json:"ownership_detail"`
		OutputLost      int64  `json:"output_lines_lost"`
		HistoryDropped  int64  `json:"history_events_dropped"`
		HistoryFailed   int64  `json:"history_events_failed"`
		HistoryPending  int    `json:"history_events_pending"`
		Starting        bool   `json:"starting"`
	} `json:"supervisor"`
	Children []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		PID      int    `json:"pid"`
		Restarts int    `json:"restarts"`
	} `json:"children"`
	Took time.Duration `json:"-"` // how long the command took
}

// statusAnswer runs `resreap status --json` once; an error means no
// answer.
func statusAnswer(t *testing.T, cfg string) (statusReply, error) {
	t.Helper()
	start := time.Now()
	code, out := resreap(t, "status", "--json", "-c", cfg)
	var st statusReply
	st.Took = time.Since(start)
	if code != 0 && code != 1 {
		return st, fmt.Errorf("status exit %d: %s", code, out)
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("status exit %d: %v: %s", code, err, out)
	}
	return st, nil
}

// statusOf is the answer of resreap status once resreap has added its
// children: while it starts, an error.
func statusOf(t *testing.T, cfg string) (statusReply, error) {
	t.Helper()
	st, err := statusAnswer(t, cfg)
	if err == nil && st.Supervisor.Starting {
		err = errors.New("resreap is starting: no children yet")
	}
	return st, err
}

// mustStatus is statusOf that fails the test without an answer within
// bound.
func mustStatus(t *testing.T, cfg string, bound time.Duration) statusReply {
	t.Helper()
	st, err := statusAnswer(t, cfg)
	if err != nil {
		t.Fatalf("status after %s: %v", st.Took, err)
	}
	if st.Took > bound {
		t.Errorf("status took %s, want at most %s", st.Took, bound)
	}
	return st
}

// readHistory reads the history file of the config in dir.
func readHistory(t *testing.T, dir string, f history.Filter) []history.Record {
	t.Helper()
	recs, _, err := history.Read(filepath.Join(dir, "history.jsonl"), f)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the first record makes the file: none yet
	}
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// ctl runs a short resreap command and returns its exit code (-1 when it
// could not be run), its output and how long it took. Unlike resreap, it
// may be called from any goroutine.
func ctl(args ...string) (int, string, time.Duration) {
	cmd := resreapCmd(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), took
	} else if err != nil {
		return -1, err.Error(), took
	}
	return 0, out.String(), took
}

// quantiles returns the minimum, median, 90th and 99th percentiles and
// the maximum of ds (which it sorts).
func quantiles(ds []time.Duration) [5]time.Duration {
	if len(ds) == 0 {
		return [5]time.Duration{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return [5]time.Duration{ds[0], at(0.5), at(0.9), at(0.99), ds[len(ds)-1]}
}

// quantileText is quantiles as text, for the figures.
func quantileText(ds []time.Duration) string {
	q := quantiles(ds)
	return fmt.Sprintf("min %s p50 %s p90 %s p99 %s max %s", q[0], q[1], q[2], q[3], q[4])
}
