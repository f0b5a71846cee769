//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// I/O: supervision never stalls on, nor dies of, its own output, log or
// history.

// talker prints a line to stdout and one to stderr every 20ms.
const talker = `
[[child]]
name = "talker"
command = ["sh", "-c", "while :; do echo out; echo err >&2; sleep 0.02; done"]
`

// Whoever reads resreap's stdout and stderr goes away (`resreap run |
// head -1`): resreap does not die of SIGPIPE, status answers, a restart
// works, and it still exits 0 on TERM.
func TestFaultIOReaderGone(t *testing.T) {
	dir := t.TempDir()
	cfg := faultConfig(t, dir, "", talker)
	outR, outW := pipe(t)
	errR, errW := pipe(t)
	r := startRun(t, cfg, runOpts{stdout: outW, stderr: errW})
	first := waitStatus(t, cfg, running("talker"))
	outR.Close()
	errR.Close()

	// Every 20ms the child's lines, and every event the log, now meet a
	// pipe without a reader. Let that go on for a while.
	time.Sleep(time.Second)
	if r.exited() {
		t.Fatalf("resreap exited with its readers: %s", r.cmd.ProcessState)
	}
	code, out, took := ctl("restart", "talker", "-c", cfg)
	if code != 0 {
		t.Fatalf("restart: exit %d: %s", code, out)
	}
	st := waitStatus(t, cfg, func(m map[string]map[string]any) bool {
		return m["talker"]["state"] == "running" && m["talker"]["pid"] != first["talker"]["pid"]
	})
	status := mustStatus(t, cfg, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // the new child writes to the broken pipes too
	stopTook := r.stop(t, syscall.SIGTERM, 30*time.Second)
	ws := r.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() || ws.ExitStatus() != 0 {
		t.Errorf("resreap ended with %s after TERM, want exit 0 (141 or SIGPIPE: it died of its readers)", r.cmd.ProcessState)
	}
	t.Logf("readers gone: restart took %s (pid %v -> %v), status %s, exit on TERM after %s: %s",
		took.Round(time.Millisecond), first["talker"]["pid"], st["talker"]["pid"], status.Took.Round(time.Millisecond), stopTook.Round(time.Millisecond), r.cmd.ProcessState)
}

// dropNotice matches the line resreap writes once a stalled output takes
// lines again, and captures the count and the stream.
var dropNotice = regexp.MustCompile(`resreap: (\d+) lines? of child output dropped: (\w+) was not being read`)

// noticeIn returns dropNotice's submatches in line, a line of resreap's
// output, or nil; it looks at child lines no longer than it must.
func noticeIn(line []byte) [][]byte {
	if !bytes.HasPrefix(line, []byte("resreap: ")) {
		return nil
	}
	return dropNotice.FindSubmatch(line)
}

// Nobody reads resreap's stdout (a pipe whose reader stopped) while a
// child prints as fast as it can: a restart and a status still complete
// in time, and once the reader comes back a line says how many lines
// were dropped.
func TestFaultIOStdoutStalled(t *testing.T) {
	dir := t.TempDir()
	cfg := faultConfig(t, dir, "", helperChild("chatty", "lines")+helperChild("quiet", "idle"))
	outR, outW := pipe(t)
	r := startRun(t, cfg, runOpts{stdout: outW})
	first := waitStatus(t, cfg, running("chatty", "quiet"))
	stalledBy(t, cfg, "stdout")

	code, out, took := ctl("restart", "chatty", "-c", cfg)
	if code != 0 || took > 30*time.Second {
		t.Errorf("restart with stdout stalled: exit %d after %s: %s", code, took, out)
	}
	code, out, qtook := ctl("restart", "quiet", "-c", cfg)
	if code != 0 || qtook > 30*time.Second {
		t.Errorf("restart of a quiet sibling with stdout stalled: exit %d after %s: %s", code, qtook, out)
	}
	st := mustStatus(t, cfg, 30*time.Second)
	for _, c := range st.Children {
		if c.State != "running" || c.PID == int(first[c.Name]["pid"].(float64)) {
			t.Errorf("%s: %s pid %d after the restart", c.Name, c.State, c.PID)
		}
	}

	// The reader comes back.
	notice := make(chan string, 1)
	go func() {
		br := bufio.NewReaderSize(outR, 64<<10)
		for {
			line, err := br.ReadSlice('\n')
			if m := noticeIn(line); m != nil {
				select {
				case notice <- string(m[0]):
				default:
				}
			}
			if err != nil && err != bufio.ErrBufferFull {
				return
			}
		}
	}()
	select {
	case n := <-notice:
		if !strings.HasSuffix(n, "stdout was not being read") {
			t.Errorf("notice %q names the wrong stream", n)
		}
		t.Logf("stdout stalled: restart took %s (a quiet sibling's %s), status %s, %d lines lost by then; then %q",
			took.Round(time.Millisecond), qtook.Round(time.Millisecond), st.Took.Round(time.Millisecond), st.Supervisor.OutputLost, n)
	case <-time.After(60 * time.Second):
		t.Fatalf("no drop notice on stdout within 60s of reading again")
	}
	if r.exited() {
		t.Fatalf("resreap exited: %s", r.cmd.ProcessState)
	}
}

// stalledBy waits until resreap says it dropped output lines, so the
// stream named is stalled for sure.
func stalledBy(t *testing.T, cfg, stream string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := statusOf(t, cfg)
		if err == nil && st.Supervisor.OutputLost > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no output lost in 60s with %s stalled: %v %+v", stream, err, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Nobody reads resreap's stderr, where its log and the children's stderr
// go, while a child prints there as fast as it can and a before_restart
// hook logs 30000 lines: restarts (by hand, and for a health verdict)
// complete, status answers, and once the reader comes back lines say how
// many log messages and child lines were dropped.
func TestFaultIOStderrStalled(t *testing.T) {
	dir := t.TempDir()
	sink := testchild.ClosingListener(t, "127.0.0.1:0")
	cfg := faultConfig(t, dir, "", helperChild("chatty", "lines", testchild.StreamEnv+"=stderr")+
		helperChild("leaky", "leak", testchild.AddrEnv+"="+sink, testchild.NEnv+"=2")+`
[child.health]
interval = "200ms"
close_wait = { threshold = 1, persist = 2 }
fds = { enabled = false }
before_restart = { command = ["seq", "30000"], timeout = "30s" }
`)
	r := startRun(t, cfg, runOpts{stalled: true, skip: "chatty | line "})
	waitStatus(t, cfg, running("chatty", "leaky"))
	stalledBy(t, cfg, "stderr")
	// The history is not stalled: it shows the health restart, after a
	// hook whose 30000 lines went to the stalled log.
	var healthRestart time.Duration
	testchild.WaitFor(t, "a health restart of leaky", func() bool {
		var unhealthy time.Time
		for _, rec := range readHistory(t, dir, history.Filter{Child: "leaky"}) {
			switch rec.Event {
			case history.EventUnhealthy:
				unhealthy = rec.Time
			case history.EventRestart:
				if !unhealthy.IsZero() {
					healthRestart = rec.Time.Sub(unhealthy)
					return true
				}
			}
		}
		return false
	})

	code, out, took := ctl("restart", "chatty", "-c", cfg)
	if code != 0 || took > 30*time.Second {
		t.Errorf("restart with stderr stalled: exit %d after %s: %s", code, took, out)
	}
	// Fewer hooks from now on, so the log catches up sooner.
	code, out, stopTook := ctl("stop", "leaky", "-c", cfg)
	if code != 0 || stopTook > 30*time.Second {
		t.Errorf("stop with stderr stalled: exit %d after %s: %s", code, stopTook, out)
	}
	st := mustStatus(t, cfg, 30*time.Second)

	r.readLogNow()
	logDrops := regexp.MustCompile(`^resreap: \d+ log messages dropped`)
	var logNotice, childNotice string
	testchild.WaitFor(t, "the drop notices", func() bool {
		logNotice, childNotice = r.plainMatching(logDrops), r.plainMatching(dropNotice)
		return logNotice != "" && childNotice != ""
	})
	if !strings.HasSuffix(childNotice, "stderr was not being read") {
		t.Errorf("notice %q names the wrong stream", childNotice)
	}
	if r.exited() {
		t.Fatalf("resreap exited: %s", r.cmd.ProcessState)
	}
	t.Logf("stderr stalled: health restart %s after the verdict (hook: 30000 log lines), restart took %s, stop %s, status %s; then %q and %q",
		healthRestart.Round(time.Millisecond), took.Round(time.Millisecond), stopTook.Round(time.Millisecond), st.Took.Round(time.Millisecond), logNotice, childNotice)
}

// The history file is a FIFO, nobody reading it and then someone: the
// children start, restarts complete, the log says loudly that the history
// cannot be written and why, every event is still logged (as pending),
// and status counts the events waiting for the history.
func TestFaultIOHistoryFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "history.fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := faultConfig(t, dir, fmt.Sprintf("history_file = %q", fifo), helperChild("svc", "idle"))
	r := startRun(t, cfg, runOpts{})
	waitStatus(t, cfg, running("svc"))
	failed := r.waitLogsWhere(t, "HISTORY WRITE FAILED about the FIFO", 1, func(m map[string]any) bool {
		return strings.HasPrefix(fmt.Sprint(m["message"]), "HISTORY WRITE FAILED") && strings.Contains(fmt.Sprint(m["error"]), "FIFO")
	})
	pending := func(m map[string]any) bool { return m["history"] == "pending" && m["recorded"] == false }
	var took [2]time.Duration
	for i := range took {
		if i == 1 {
			// Someone reads the FIFO now: the history still refuses it,
			// without waiting for the reader.
			rd, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
		}
		before := len(r.logsWhere(pending))
		code, out, d := ctl("restart", "svc", "-c", cfg)
		if code != 0 || d > 30*time.Second {
			t.Fatalf("restart %d: exit %d after %s: %s", i+1, code, d, out)
		}
		took[i] = d
		// A restart is a stop, a restart and a start: each logged at
		// once as pending, not held back by the history.
		r.waitLogsWhere(t, "the restart's events logged as pending", before+3, pending)
	}
	st := mustStatus(t, cfg, 10*time.Second)
	if n := len(r.logsWhere(pending)); st.Supervisor.HistoryPending != n || st.Supervisor.HistoryDropped != 0 || st.Supervisor.HistoryFailed == 0 {
		t.Errorf("status: %d pending, %d dropped, %d failed writes; want %d pending (as logged), none dropped, some failed",
			st.Supervisor.HistoryPending, st.Supervisor.HistoryDropped, st.Supervisor.HistoryFailed, n)
	}
	t.Logf("history on a FIFO: restarts took %s (no reader) and %s (a reader); %d events logged as pending and %d pending in status, %d failed writes: %v",
		took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), len(r.logsWhere(pending)), st.Supervisor.HistoryPending,
		st.Supervisor.HistoryFailed, failed[0]["error"])
}

// The history lives on a small tmpfs filled to the brim, with a
// crash-looping child: the first records fit, then writes fail (ENOSPC or
// a short write) and the events queue, each logged at once as pending,
// counted in status. Once space is freed the backlog is written: every
// start and exit resreap logged is in the file, in the order logged, and
// none is lost. (Before the retry, 12 of 16 start records were missing
// after space came back, with resreap_history_dropped_total at 0.)
func TestFaultIOHistoryFullThenFreed(t *testing.T) {
	testchild.NeedRoot(t) // to mount the tmpfs
	dir := t.TempDir()
	hist := filepath.Join(dir, "hist")
	if err := os.Mkdir(hist, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("resreap-fault", hist, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	// Registered first, so it runs after resreap has stopped.
	t.Cleanup(func() {
		if err := unix.Unmount(hist, 0); err != nil {
			t.Errorf("unmount %s: %v", hist, err)
			unix.Unmount(hist, unix.MNT_DETACH)
		}
	})
	// All but one page taken: the history gets that page.
	filler := filepath.Join(hist, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20-4096), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(hist, "history.jsonl")
	cfg := faultConfig(t, dir, fmt.Sprintf("history_file = %q", path), `
[[child]]
name = "crasher"
command = ["sh", "-c", "exit 3"]
backoff = { initial = "20ms", max = "50ms" }
`)
	r := startRun(t, cfg, runOpts{})
	failedWrite := func(m map[string]any) bool {
		e := fmt.Sprint(m["error"])
		return strings.HasPrefix(fmt.Sprint(m["message"]), "HISTORY WRITE FAILED") &&
			(strings.Contains(e, "no space left on device") || strings.Contains(e, "short write"))
	}
	r.waitLogsWhere(t, "a write failed for want of space", 1, failedWrite)
	crasher := func(m map[string]any) bool { return m["child"] == "crasher" && m["event"] != nil }
	pendingExit := func(m map[string]any) bool { return crasher(m) && m["event"] == "exit" && m["history"] == "pending" }
	r.waitLogsWhere(t, "20 exits logged as pending", 20, pendingExit)
	full := mustStatus(t, cfg, 10*time.Second)
	if full.Supervisor.HistoryPending == 0 || full.Supervisor.HistoryFailed == 0 || full.Supervisor.HistoryDropped != 0 {
		t.Errorf("status with the disk full: %d pending, %d failed writes, %d dropped; want some pending and failed, none dropped",
			full.Supervisor.HistoryPending, full.Supervisor.HistoryFailed, full.Supervisor.HistoryDropped)
	}

	freed := time.Now()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	backlog := r.waitLogsWhere(t, "the backlog written", 1, func(m map[string]any) bool {
		return strings.Contains(fmt.Sprint(m["message"]), "queued history events recorded after")
	})
	backlogTook := time.Since(freed)
	if code, out, _ := ctl("stop", "crasher", "-c", cfg); code != 0 {
		t.Fatalf("stop crasher: exit %d: %s", code, out)
	}
	var st statusReply
	testchild.WaitFor(t, "no event pending", func() bool {
		st = mustStatus(t, cfg, 10*time.Second)
		return st.Supervisor.HistoryPending == 0
	})

	type ev struct {
		event string
		pid   int
	}
	var logged []ev
	var asPending int
	for _, m := range r.logsWhere(crasher) {
		pid, _ := m["pid"].(float64)
		logged = append(logged, ev{fmt.Sprint(m["event"]), int(pid)})
		if m["recorded"] != true {
			if m["history"] != "pending" {
				t.Errorf("event logged neither recorded nor pending: %v", m)
			}
			asPending++
		}
	}
	recs, warns, err := history.Read(path, history.Filter{Child: "crasher"})
	if err != nil || len(warns) != 0 {
		t.Fatalf("read the history: %v, warnings %v", err, warns)
	}
	var inFile []ev
	starts, exits := 0, 0
	for i, rec := range recs {
		inFile = append(inFile, ev{string(rec.Event), rec.PID})
		switch rec.Event {
		case history.EventStart:
			starts++
		case history.EventExit:
			exits++
		}
		if i > 0 && rec.Time.Before(recs[i-1].Time) {
			t.Errorf("record %d (%s of %d) is older than the one before it", i, rec.Event, rec.PID)
		}
	}
	missing := 0
	for i := range logged {
		if i >= len(inFile) || inFile[i] != logged[i] {
			missing++
		}
	}
	if len(inFile) != len(logged) || missing > 0 {
		t.Errorf("%d events logged, %d in the file, %d differ; first ones logged %v, in the file %v",
			len(logged), len(inFile), missing, logged[:min(len(logged), 6)], inFile[:min(len(inFile), 6)])
	}
	if st.Supervisor.HistoryDropped != 0 || len(r.logsWhere(func(m map[string]any) bool {
		return strings.Contains(fmt.Sprint(m["history"]), "not recorded")
	})) > 0 {
		t.Errorf("%d events dropped, want none", st.Supervisor.HistoryDropped)
	}
	t.Logf("history on a full tmpfs under a crash loop: %d writes failed, %d events pending at the check (%d logged as pending in all); "+
		"space freed, backlog written after %s (%q); the file holds %d starts and %d exits, all %d events logged, in order, 0 lost, %d dropped",
		st.Supervisor.HistoryFailed, full.Supervisor.HistoryPending, asPending, backlogTook.Round(time.Millisecond), backlog[0]["message"],
		starts, exits, len(logged), st.Supervisor.HistoryDropped)
}

// The history file is deleted while resreap runs: later events go to a new
// file, where resreap history finds them.
func TestFaultIOHistoryDeleted(t *testing.T) {
	dir := t.TempDir()
	cfg := faultConfig(t, dir, "", helperChild("svc", "idle"))
	startRun(t, cfg, runOpts{})
	first := waitStatus(t, cfg, running("svc"))
	path := filepath.Join(dir, "history.jsonl")
	testchild.WaitFor(t, "the first start in the history", func() bool {
		return len(readHistory(t, dir, history.Filter{Events: []history.Event{history.EventStart}})) > 0
	})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if code, out := resreap(t, "restart", "svc", "-c", cfg); code != 0 {
		t.Fatalf("restart: exit %d: %s", code, out)
	}
	oldPID := int(first["svc"]["pid"].(float64))
	var out string
	testchild.WaitFor(t, "the restart in the new history file", func() bool {
		var code int
		code, out = resreap(t, "history", "-c", cfg, "--json")
		return code == 0 && strings.Contains(out, `"pid":`+strconv.Itoa(oldPID)+`,"event":"stop"`) &&
			strings.Count(out, `"event":"start"`) == 1
	})
	lines := strings.Count(out, "\n")
	t.Logf("history deleted: the new file holds %d records: %s", lines, strings.ReplaceAll(strings.TrimSpace(out), "\n", " | "))
}

// A child prints 1,000,000 numbered lines as fast as it can while the test
// reads resreap's stdout: the lines arrive in order, and every one is
// either received or counted in a drop notice.
func TestFaultIOMillionLines(t *testing.T) {
	const total = 1000000
	dir := t.TempDir()
	cfg := faultConfig(t, dir, "", helperChild("counter", "lines", testchild.NEnv+"="+strconv.Itoa(total)))
	outR, outW := pipe(t)
	var mu sync.Mutex
	var received, dropped, disorder, last int
	var firstDisorder string
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		prefix := []byte("counter | line ")
		br := bufio.NewReaderSize(outR, 64<<10)
		for {
			line, err := br.ReadSlice('\n')
			switch {
			case bytes.HasPrefix(line, prefix):
				n, _ := strconv.Atoi(string(bytes.TrimSpace(line[len(prefix):])))
				mu.Lock()
				if n <= last {
					disorder++
					if firstDisorder == "" {
						firstDisorder = fmt.Sprintf("line %d after line %d", n, last)
					}
				}
				last = n
				received++
				mu.Unlock()
			default:
				if m := noticeIn(line); m != nil {
					n, _ := strconv.Atoi(string(m[1]))
					mu.Lock()
					dropped += n
					mu.Unlock()
				}
			}
			if err != nil && err != bufio.ErrBufferFull {
				return
			}
		}
	}()
	startRun(t, cfg, runOpts{stdout: outW})
	var took time.Duration
	testchild.WaitWithin(t, "every line received or counted", 120*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		took = time.Since(start)
		return received+dropped >= total
	})
	mu.Lock()
	defer mu.Unlock()
	if received+dropped != total || disorder > 0 || last != total && dropped == 0 {
		t.Errorf("%d received + %d dropped = %d, want %d; %d out of order (first: %s); last line %d",
			received, dropped, received+dropped, total, disorder, firstDisorder, last)
	}
	t.Logf("1M lines: %d received in order, %d dropped and counted, in %s", received, dropped, took.Round(time.Millisecond))
}
