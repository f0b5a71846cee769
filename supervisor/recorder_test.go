//go:build linux

package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// quickTiming is the recorder's timing at test speed.
var quickTiming = recorderTiming{
	retryFirst:   5 * time.Millisecond,
	retryMax:     40 * time.Millisecond,
	holdNotes:    100 * time.Millisecond,
	failLogEvery: time.Hour,
	drainWait:    2 * time.Second,
}

// flakySink is a history that fails whole writes, as history.Writer does
// on a full disk: the next failNext writes, or every write while broken.
// It records what it took, notices two calls at once (it must have one
// owner), and counts its Close.
type flakySink struct {
	mu       sync.Mutex
	failNext int
	broken   bool
	writes   int // calls
	failures int // calls that failed
	recs     []history.Record
	closes   int
	late     bool // a call after Close

	busy    atomic.Int32
	overlap atomic.Bool
}

func (f *flakySink) AppendAll(recs []history.Record) []error {
	if f.busy.Add(1) != 1 {
		f.overlap.Store(true)
	}
	defer f.busy.Add(-1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	f.late = f.late || f.closes > 0
	errs := make([]error, len(recs))
	if f.broken || f.failNext > 0 {
		if f.failNext > 0 {
			f.failNext--
		}
		f.failures++
		for i := range errs {
			errs[i] = fmt.Errorf("history: append to /state/history.jsonl: write: %w", syscall.ENOSPC)
		}
		return errs
	}
	f.recs = append(f.recs, recs...)
	return errs
}

func (f *flakySink) Append(r history.Record) error { return f.AppendAll([]history.Record{r})[0] }

func (f *flakySink) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	return nil
}

func (f *flakySink) set(broken bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broken = broken
}

func (f *flakySink) counts() (writes, failures int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes, f.failures
}

func (f *flakySink) pids() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int, len(f.recs))
	for i, r := range f.recs {
		out[i] = r.PID
	}
	return out
}

func (f *flakySink) has(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.recs {
		if r.PID == pid {
			return true
		}
	}
	return false
}

// logLines keeps the recorder's log, one parsed JSON line each; check,
// when set, sees every line as it is written.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	check func(map[string]any)
}

func (l *logLines) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return 0, err
	}
	if l.check != nil {
		l.check(m)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, m)
	return len(p), nil
}

func (l *logLines) where(match func(map[string]any) bool) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.lines {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

// index is the position of the first line match holds for, or -1.
func (l *logLines) index(match func(map[string]any) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, m := range l.lines {
		if match(m) {
			return i
		}
	}
	return -1
}

func isEvent(m map[string]any) bool { return m["event"] != nil }

func pidOf(m map[string]any) int {
	f, _ := m["pid"].(float64)
	return int(f)
}

func withPID(pid int) func(map[string]any) bool {
	return func(m map[string]any) bool { return isEvent(m) && pidOf(m) == pid }
}

func withMessage(prefix string) func(map[string]any) bool {
	return func(m map[string]any) bool { return strings.HasPrefix(fmt.Sprint(m["message"]), prefix) }
}

// testRecorder is a recorder on sink whose log goes to the returned
// lines; it is closed at cleanup if the test has not closed it.
func testRecorder(t *testing.T, sink HistorySink, tm recorderTiming) (*recorder, *logLines) {
	t.Helper()
	lines := &logLines{}
	r := newRecorderTiming(sink, zerolog.New(lines), tm)
	t.Cleanup(r.close)
	return r, lines
}

// start queues the start of pid, as the supervisor records one.
func start(r *recorder, pid int) {
	r.add(r.log.Info(), history.Record{Time: time.Now().UTC(), Child: "crasher", PID: pid, Event: history.EventStart})
}

// A history that fails its first writes, then works: every event reaches
// it, in order, none lost; each event is logged exactly once, as pending
// when its write failed and as recorded only once the sink has it; one
// line says when the backlog is written; each failed write is counted.
func TestRecorderRetriesInOrder(t *testing.T) {
	const failures, total = 4, 40
	sink := &flakySink{failNext: failures}
	r, lines := testRecorder(t, sink, quickTiming)
	lines.check = func(m map[string]any) {
		if m["recorded"] == true && !sink.has(pidOf(m)) {
			t.Errorf("pid %d logged as recorded before the history had it", pidOf(m))
		}
	}
	for pid := 1; pid <= total/2; pid++ {
		start(r, pid)
	}
	testchild.WaitFor(t, "a failed write", func() bool { _, f := sink.counts(); return f >= 1 })
	for pid := total/2 + 1; pid <= total; pid++ {
		start(r, pid)
		if pid == total/2+1 {
			r.note(r.log.Info(), "crasher running")
		}
	}
	testchild.WaitFor(t, "every event written", func() bool { return r.Pending() == 0 && len(sink.pids()) == total })

	for i, pid := range sink.pids() {
		if pid != i+1 {
			t.Fatalf("history holds %v, want 1..%d in order", sink.pids(), total)
		}
	}
	if _, f := sink.counts(); r.Failed() != failures || f != failures || r.Dropped() != 0 {
		t.Errorf("failed %d (sink %d), dropped %d; want %d failed, none dropped", r.Failed(), f, r.Dropped(), failures)
	}
	var pending int
	for pid := 1; pid <= total; pid++ {
		logged := lines.where(withPID(pid))
		if len(logged) != 1 {
			t.Fatalf("pid %d logged %d times, want once: %v", pid, len(logged), logged)
		}
		if logged[0]["history"] == "pending" {
			pending++
			if logged[0]["recorded"] != false {
				t.Errorf("pid %d logged as pending with recorded %v", pid, logged[0]["recorded"])
			}
		}
	}
	if pending == 0 {
		t.Error("no event was logged as pending")
	}
	backlog := lines.where(withMessage(fmt.Sprintf("%d queued history events recorded after ", pending)))
	if len(backlog) != 1 {
		t.Errorf("want one line saying %d queued events were recorded, have %v", pending, backlog)
	}
	note := lines.index(withMessage("crasher running"))
	if before := lines.index(withPID(total/2 + 1)); note < 0 || note < before {
		t.Errorf("note at line %d, its event at %d: the note must follow it", note, before)
	}
	// The history works again: new events are logged as recorded, each
	// only once the sink has it (lines.check).
	for pid := total + 1; pid <= total+5; pid++ {
		start(r, pid)
	}
	testchild.WaitFor(t, "5 more events logged", func() bool {
		return len(lines.where(func(m map[string]any) bool { return m["recorded"] == true })) == 5
	})
	if sink.overlap.Load() {
		t.Error("the sink was called from two goroutines at once")
	}
	r.close()
	if sink.closes != 1 || sink.late {
		t.Errorf("sink closed %d times (a write after Close: %v), want once, last", sink.closes, sink.late)
	}
	t.Logf("%d failed writes then success: %d events in order, %d logged as pending, 0 lost", failures, total, pending)
}

// Events queued from several goroutines keep each goroutine's order
// across failed writes, and the sink is only ever called by one.
func TestRecorderConcurrentEventsAcrossFailures(t *testing.T) {
	const producers, each = 4, 200
	sink := &flakySink{broken: true}
	r, _ := testRecorder(t, sink, quickTiming)
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range each {
				start(r, g*1000+i)
				if i == each/2 && g == 0 {
					sink.set(false)
				}
			}
		})
	}
	wg.Wait()
	testchild.WaitFor(t, "every event written", func() bool { return r.Pending() == 0 })
	next := make([]int, producers)
	pids := sink.pids()
	for _, pid := range pids {
		g, i := pid/1000, pid%1000
		if i != next[g] {
			t.Fatalf("producer %d: event %d where %d was due", g, i, next[g])
		}
		next[g]++
	}
	if len(pids) != producers*each || r.Dropped() != 0 || sink.overlap.Load() {
		t.Errorf("%d events written, %d dropped, overlap %v; want %d, 0, false", len(pids), r.Dropped(), sink.overlap.Load(), producers*each)
	}
}

// With maxPending events waiting on a broken history, each newer event is
// dropped at once, counted and logged as not recorded; exactly the excess
// is lost, and the queue reaches the history, in order, once it mends.
func TestRecorderOverflowDropsTheExcess(t *testing.T) {
	const excess = 37
	sink := &flakySink{broken: true}
	r, lines := testRecorder(t, sink, quickTiming)
	for pid := 1; pid <= maxPending+excess; pid++ {
		start(r, pid)
	}
	if r.Dropped() != excess || r.Pending() != maxPending {
		t.Fatalf("dropped %d, pending %d; want %d, %d", r.Dropped(), r.Pending(), excess, maxPending)
	}
	full := lines.where(func(m map[string]any) bool { return m["history"] == "queue full: not recorded" })
	if len(full) != excess || pidOf(full[0]) != maxPending+1 || pidOf(full[excess-1]) != maxPending+excess {
		t.Fatalf("%d lines say queue full, want %d (pids %d..%d)", len(full), excess, maxPending+1, maxPending+excess)
	}
	sink.set(false)
	testchild.WaitFor(t, "the queue written", func() bool { return r.Pending() == 0 })
	pids := sink.pids()
	for i, pid := range pids {
		if pid != i+1 {
			t.Fatalf("record %d has pid %d, want %d", i, pid, i+1)
		}
	}
	if len(pids) != maxPending || r.Dropped() != excess {
		t.Errorf("%d written, %d dropped; want %d, %d", len(pids), r.Dropped(), maxPending, excess)
	}
}

// While the history fails, a note behind a queued event is logged at
// once, after the event's pending line; an event queued meanwhile is
// logged at once as pending too, without waiting for a retry.
func TestRecorderNotesWhileFailing(t *testing.T) {
	sink := &flakySink{broken: true}
	tm := quickTiming
	tm.retryFirst, tm.retryMax = time.Hour, time.Hour // one failure, no retry
	r, lines := testRecorder(t, sink, tm)
	start(r, 1)
	testchild.WaitFor(t, "the failure logged", func() bool { return len(lines.where(withMessage("HISTORY WRITE FAILED"))) == 1 })
	r.note(r.log.Info(), "crasher running")
	start(r, 2)
	testchild.WaitFor(t, "the note and the second event", func() bool {
		return lines.index(withMessage("crasher running")) >= 0 && lines.index(withPID(2)) >= 0
	})
	if ev, note, ev2 := lines.index(withPID(1)), lines.index(withMessage("crasher running")), lines.index(withPID(2)); ev > note || note > ev2 {
		t.Errorf("log order: event 1 at %d, note at %d, event 2 at %d", ev, note, ev2)
	}
	if m := lines.where(withPID(2))[0]; m["history"] != "pending" || m["recorded"] != false {
		t.Errorf("event queued while failing logged %v, want pending", m)
	}
	if w, _ := sink.counts(); w != 1 || r.Pending() != 2 {
		t.Errorf("%d writes, %d pending; want 1 write, 2 pending", w, r.Pending())
	}
	sink.set(false) // shutdown's retry takes them
	r.close()
	if pids := sink.pids(); len(pids) != 2 || pids[0] != 1 || pids[1] != 2 || r.Dropped() != 0 {
		t.Errorf("history %v, dropped %d; want [1 2], 0", pids, r.Dropped())
	}
}

// A write that does not return (a hung disk) holds the log back for
// holdNotes only: then the queued events are logged as pending and what
// is queued behind them follows; once the history answers, one line says
// the backlog is recorded, counting every event logged as pending, those
// that came during the stall (written by a second write) too.
func TestRecorderStalledWrite(t *testing.T) {
	for _, during := range [][]int{
		nil, // only the note comes during the stall
		{2}, // and an event after it
		{2, 3},
	} {
		t.Run(fmt.Sprintf("%d events during the stall", len(during)), func(t *testing.T) {
			sink := newBlockedSink()
			t.Cleanup(sink.unblock)
			r, lines := testRecorder(t, sink, quickTiming)
			start(r, 1)
			<-sink.entered // the write of event 1 is under way, and hangs
			r.note(r.log.Info(), "crasher running")
			for _, pid := range during {
				start(r, pid)
			}
			last := withMessage("crasher running")
			if len(during) > 0 {
				last = withPID(during[len(during)-1])
			}
			testchild.WaitFor(t, "the note and the events, with the write still blocked", func() bool { return lines.index(last) >= 0 })
			order := []int{lines.index(withPID(1)), lines.index(withMessage("crasher running"))}
			for _, pid := range during {
				order = append(order, lines.index(withPID(pid)))
			}
			for i := range order {
				if order[i] < 0 || i > 0 && order[i] < order[i-1] {
					t.Errorf("log lines of event 1, the note, then the events: at %v", order)
				}
			}
			all := append([]int{1}, during...)
			for _, pid := range all {
				if m := lines.where(withPID(pid)); len(m) != 1 || m[0]["history"] != "pending" {
					t.Errorf("event %d logged %v, want once, pending", pid, m)
				}
			}
			if r.Pending() != len(all) {
				t.Errorf("pending %d, want %d", r.Pending(), len(all))
			}
			sink.unblock()
			testchild.WaitFor(t, "the backlog line", func() bool {
				return lines.index(withMessage(fmt.Sprintf("%d queued history events recorded after", len(all)))) >= 0
			})
			recs := sink.mem.all()
			if r.Pending() != 0 || len(recs) != len(all) {
				t.Fatalf("pending %d, records %+v; want 0, pids %v", r.Pending(), recs, all)
			}
			for i, rec := range recs {
				if rec.PID != all[i] {
					t.Errorf("record %d has pid %d, want %d", i, rec.PID, all[i])
				}
			}
		})
	}
}

// Shutdown with a history that stays broken waits drainWait, then counts
// what is left as dropped and says so; the sink is closed after its last
// write, never during one.
func TestRecorderShutdownCountsTheBacklog(t *testing.T) {
	sink := &flakySink{broken: true}
	r, lines := testRecorder(t, sink, quickTiming)
	for pid := 1; pid <= 5; pid++ {
		start(r, pid)
	}
	testchild.WaitFor(t, "a failed write", func() bool { _, f := sink.counts(); return f >= 1 })
	t0 := time.Now()
	r.close()
	took := time.Since(t0)
	if took < quickTiming.drainWait || took > quickTiming.drainWait+10*time.Second {
		t.Errorf("close took %s, want drainWait (%s) and little more", took, quickTiming.drainWait)
	}
	if r.Dropped() != 5 || r.Pending() != 0 {
		t.Errorf("dropped %d, pending %d; want 5, 0", r.Dropped(), r.Pending())
	}
	if len(lines.where(withMessage("history not written at shutdown: 5 queued events not recorded"))) != 1 {
		t.Error("no line says 5 events were not recorded at shutdown")
	}
	testchild.WaitFor(t, "the sink closed", func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return sink.closes == 1 })
	if sink.late {
		t.Error("the sink was written after its Close")
	}
	start(r, 6) // after close: logged at once, counted
	if r.Dropped() != 6 || len(lines.where(func(m map[string]any) bool { return m["history"] == "shutting down: not recorded" })) != 1 {
		t.Errorf("an event after close: dropped %d, want 6, logged as not recorded", r.Dropped())
	}
}

// Shutdown does not sit out a long backoff: it retries at once, and a
// history that works again takes the backlog before close returns.
func TestRecorderShutdownRetriesAtOnce(t *testing.T) {
	sink := &flakySink{failNext: 1}
	tm := quickTiming
	tm.retryFirst, tm.retryMax = time.Hour, time.Hour
	r, _ := testRecorder(t, sink, tm)
	for pid := 1; pid <= 3; pid++ {
		start(r, pid)
	}
	testchild.WaitFor(t, "a failed write", func() bool { _, f := sink.counts(); return f >= 1 })
	t0 := time.Now()
	r.close()
	if took := time.Since(t0); took >= tm.drainWait || r.Dropped() != 0 || len(sink.pids()) != 3 {
		t.Errorf("close took %s, dropped %d, %d written; want under %s, 0, 3", took, r.Dropped(), len(sink.pids()), tm.drainWait)
	}
}

// A record that cannot be encoded is not retried (it never will be
// written): it is counted as dropped, and the events around it are
// written, in order, to a real history file.
func TestRecorderUnencodableRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.OpenLater(path, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, lines := testRecorder(t, w, quickTiming)
	start(r, 1)
	bad := history.Record{Time: time.Now().UTC(), Child: "crasher", PID: 2, Event: history.EventRestart,
		Evidence: &health.Evidence{FDs: &health.FDUsage{SlopePerMin: math.NaN()}}}
	r.add(r.log.Info(), bad)
	start(r, 3)
	r.close()
	recs, _, err := history.Read(path, history.Filter{})
	if err != nil || len(recs) != 2 || recs[0].PID != 1 || recs[1].PID != 3 {
		t.Fatalf("history %+v, %v; want pids 1 and 3", recs, err)
	}
	if r.Dropped() != 1 || r.Failed() != 0 {
		t.Errorf("dropped %d, failed %d; want 1, 0", r.Dropped(), r.Failed())
	}
	if m := lines.where(withPID(2)); len(m) != 1 || m[0]["recorded"] != false {
		t.Errorf("unencodable event logged %v, want once, not recorded", m)
	}
}

// appendSink has Append only; it fails from the failAt-th call on.
type appendSink struct {
	calls, failAt int
	mem           []history.Record
}

func (a *appendSink) Append(r history.Record) error {
	a.calls++
	if a.calls >= a.failAt {
		return syscall.EIO
	}
	a.mem = append(a.mem, r)
	return nil
}

// A sink without AppendAll gets one Append per record and none after the
// first failure: the records behind it wait with it.
func TestAppendAllOneByOne(t *testing.T) {
	sink := &appendSink{failAt: 3}
	recs := make([]history.Record, 5)
	errs := appendAll(sink, recs)
	if sink.calls != 3 || len(sink.mem) != 2 {
		t.Errorf("%d calls, %d written; want 3, 2", sink.calls, len(sink.mem))
	}
	for i, err := range errs {
		if (i < 2) != (err == nil) || err != nil && !errors.Is(err, syscall.EIO) {
			t.Errorf("record %d: %v", i, err)
		}
	}
}
