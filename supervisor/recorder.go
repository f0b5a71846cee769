//go:build linux

package supervisor

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/textsafe"
)

// maxPending bounds the events waiting for the history: hours of a
// crash-looping fleet, and a bounded cost when the history never answers.
const maxPending = 10000

// drainWait bounds how long shutdown waits for the history to take the
// events still queued.
const drainWait = 5 * time.Second

// recorder writes events to the history, in order, and logs each once its
// fate is known. A child's owner hands an event over and goes on at once,
// so a slow, failing or stalled history (a full disk, a disk at 1 IOPS, a
// FIFO) delays the reporting of an event, never a restart or a stop.
//
// Two goroutines do the work: one owns the sink and makes every call to
// it (recorder_sink.go), so a history.Writer, which is not safe for
// concurrent use, has exactly one caller; the other owns the queue's
// head, the retries and the log (recorder_write.go). An event stays at the head of the queue until the
// history has synced it: a write that fails is retried, with the events
// in their order and newer ones behind, until it succeeds. Only overflow
// loses events: with maxPending events waiting, a newer one is logged at
// once as not recorded, and counted, as is what is still queued when
// shutdown has waited drainWait.
type recorder struct {
	sink HistorySink // nil: events are only logged
	log  zerolog.Logger
	tm   recorderTiming

	mu sync.Mutex
	// queue holds, oldest first, the events not yet written and the notes
	// behind them; an entry leaves it only from the head, once written
	// (an event) or logged (a note).
	queue   []pendingEvent
	pending int   // events in queue
	dropped int64 // events that will never be recorded: overflow, shutdown, unencodable
	failed  int64 // history writes that failed (each retry counts)
	closed  bool

	wake   chan struct{} // buffered 1: the queue or closed changed
	giveUp chan struct{} // closed by close once drainWait has passed
	done   chan struct{} // closed when the writing has ended
}

type pendingEvent struct {
	ev  *zerolog.Event
	rec history.Record
	// note, when set, makes this a log line only (no record), queued so
	// that it is logged after the events before it: "fe running" must not
	// show up before "fe started", which waits for its fsync.
	note string
}

func newRecorder(sink HistorySink, log zerolog.Logger) *recorder {
	return newRecorderTiming(sink, log, defaultTiming)
}

// newRecorderTiming is newRecorder with other waits, for tests that
// cannot wait for the real ones.
func newRecorderTiming(sink HistorySink, log zerolog.Logger, tm recorderTiming) *recorder {
	r := &recorder{sink: sink, log: log, tm: tm, wake: make(chan struct{}, 1),
		giveUp: make(chan struct{}), done: make(chan struct{})}
	if sink == nil {
		close(r.done)
		return r
	}
	go r.run()
	return r
}

// add queues an event; it never blocks.
func (r *recorder) add(ev *zerolog.Event, rec history.Record) {
	r.enqueue(pendingEvent{ev: ev, rec: rec})
}

// note logs msg with ev after the events queued before it.
func (r *recorder) note(ev *zerolog.Event, msg string) {
	r.enqueue(pendingEvent{ev: ev, note: msg})
}

// enqueue queues p for the writer, or logs it at once: without a history
// (an event as not recorded, in its caller's order), with the recorder
// closed, or with the queue full (an event as not recorded, and counted
// as dropped). Notes are bounded apart from events, at as many again: a
// child's "running" follows its start, so they cannot fill the queue
// unless events do.
func (r *recorder) enqueue(p pendingEvent) {
	if r.sink == nil {
		p.log(false)
		return
	}
	r.mu.Lock()
	full := r.pending >= maxPending
	if p.note != "" {
		full = len(r.queue) >= 2*maxPending
	}
	if r.closed || full {
		if p.note == "" {
			r.dropped++
			if r.closed {
				p.ev = p.ev.Str("history", "shutting down: not recorded")
			} else {
				p.ev = p.ev.Str("history", "queue full: not recorded")
			}
		}
		r.mu.Unlock()
		p.log(false)
		return
	}
	r.queue = append(r.queue, p)
	if p.note == "" {
		r.pending++
	}
	r.mu.Unlock()
	r.poke()
}

// poke wakes the writing goroutine; it never blocks.
func (r *recorder) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// log logs p: a note as it is, an event saying whether it was recorded.
func (p pendingEvent) log(recorded bool) {
	if p.note != "" {
		p.ev.Msg(p.note)
		return
	}
	logEvent(p.ev, p.rec, recorded)
}

// Dropped returns how many events will never be recorded: they found the
// queue full, were still queued when shutdown stopped waiting, or could
// not be encoded. Failed returns how many writes to the history failed
// (their events stayed queued), and Pending how many events wait for the
// history now.
func (r *recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

func (r *recorder) Failed() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// close lets the queued events reach the history, retrying a failing one
// at once and then as the backoff says, for at most drainWait; what is
// still queued then is logged, and counted, as not recorded.
func (r *recorder) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.poke()
	select {
	case <-r.done:
	case <-time.After(r.tm.drainWait):
		close(r.giveUp)
		<-r.done // at once: the writing goroutine never waits on the sink
	}
}

// logEvent logs rec with ev, saying whether it was recorded. The message
// is one readable line (see eventLine); the fields carry the same facts
// for machines, durations as text with units.
func logEvent(ev *zerolog.Event, rec history.Record, recorded bool) {
	if rec.PID != 0 {
		ev = ev.Int("pid", rec.PID)
	}
	if rec.Reason != "" {
		ev = ev.Str("reason", string(rec.Reason))
	}
	if rec.ExitCode != nil {
		ev = ev.Int("exit_code", *rec.ExitCode)
	}
	if rec.Signal != "" {
		ev = ev.Str("signal", rec.Signal)
	}
	if rec.Backoff > 0 {
		ev = ev.Str("backoff", rec.Backoff.Text())
	}
	if rec.StopDuration > 0 {
		ev = ev.Str("took", rec.StopDuration.Text())
	}
	if rec.Message != "" {
		ev = ev.Str("detail", rec.Message)
	}
	ev.Str("event", string(rec.Event)).Bool("recorded", recorded).Msg(eventLine(rec))
}

// eventLine says what a record says in one line, for the log:
//
//	fe-server stopped: QUIT (2s) → TERM (10s) → KILL (3ms), killed, took 12s, reason close_wait
//	db stopped by TERM in 3ms, reason shutdown
//	worker exited: exit 3 after 4s; next start in 1s
//
// The line is escaped (textsafe): a message quotes a start error (a
// program's path), a probe's error, what a hook said, and a log read as
// text (`jq -r .message`, a console) must not carry their control bytes.
func eventLine(r history.Record) string {
	who := r.Child
	if who == "" {
		who = "resreap"
	}
	var b strings.Builder
	switch r.Event {
	case history.EventStart:
		if r.PID == 0 {
			fmt.Fprintf(&b, "%s failed to start: %s", who, r.Message)
		} else {
			fmt.Fprintf(&b, "%s started (pid %d)", who, r.PID)
		}
		if r.Restarts > 0 {
			fmt.Fprintf(&b, ", restart %d", r.Restarts)
		}
	case history.EventStop:
		if len(r.SignalsSent) == 1 && !r.Killed {
			// The usual case: "db stopped by TERM in 3ms", and how it
			// ended when not by that signal: "(exit 0)".
			fmt.Fprintf(&b, "%s stopped by %s in %s", who, r.SignalsSent[0].Signal, r.StopDuration.Text())
			if r.Signal != r.SignalsSent[0].Signal {
				fmt.Fprintf(&b, " (%s)", history.Ended(history.Record{Signal: r.Signal, ExitCode: r.ExitCode}))
			}
			break
		}
		fmt.Fprintf(&b, "%s stopped: %s, took %s", who, escalationText(r), r.StopDuration.Text())
	case history.EventExit:
		fmt.Fprintf(&b, "%s exited: %s after %s", who, history.Ended(r), r.Uptime.Text())
		if r.Reason == history.ReasonStartFailed {
			b.WriteString(", a failed start")
		}
		if len(r.Processes) > 0 {
			b.WriteString("; killed what it left in its cgroup: " + procsText(r.Processes))
		}
	case history.EventRestart:
		fmt.Fprintf(&b, "%s restarting", who)
	case history.EventDeferred:
		// Its own evidence comes first, its group's members after it:
		// the evidence must not read as that of the member named last.
		fmt.Fprintf(&b, "%s restart deferred", who)
	case history.EventWouldRestart:
		fmt.Fprintf(&b, "%s would be restarted (%s)", who, r.Message)
	case history.EventReload:
		if r.Reason == history.ReasonRejected {
			// The problems, one per line, are in the log's error field.
			return "reload rejected; children keep running with the old configuration"
		}
		return textsafe.Escape("reloaded: " + r.Message)
	case history.EventCorrelated:
		return textsafe.Escape(fmt.Sprintf("group %s: %s (%s)", r.Group, r.Message, strings.Join(r.Members, ", ")))
	case history.EventOrphaned:
		fmt.Fprintf(&b, "%s: %s; stopped: %s, took %s", who, r.Message, escalationText(r), r.StopDuration.Text())
	default:
		fmt.Fprintf(&b, "%s %s", who, r.Event)
	}
	if r.Reason != "" && r.Event != history.EventStart && r.Event != history.EventExit {
		fmt.Fprintf(&b, ", reason %s", r.Reason)
	}
	if s := r.Evidence.Summary(); s != "" && r.Event != history.EventRestart {
		b.WriteString(": " + s)
	}
	if r.Event == history.EventDeferred && r.Message != "" {
		b.WriteString("; " + r.Message)
	}
	if r.Backoff > 0 {
		fmt.Fprintf(&b, "; next start in %s", r.Backoff.Text())
	}
	if t := r.OutputTail; t != nil && len(t.Lines) > 0 {
		fmt.Fprintf(&b, "; its last output: %s (all of it in %s)", t.Lines[len(t.Lines)-1], t.FullOutput)
	}
	return textsafe.Escape(b.String())
}

// procsText names processes of a record for a log line: "12 (nginx:
// worker process), 13 (sleep 600)", the first three and how many more.
func procsText(procs []history.Proc) string {
	const shown = 3
	parts := make([]string, 0, shown+1)
	for _, p := range procs[:min(len(procs), shown)] {
		parts = append(parts, fmt.Sprintf("%d (%s)", p.PID, p.Command))
	}
	if len(procs) > shown {
		parts = append(parts, fmt.Sprintf("and %d more", len(procs)-shown))
	}
	return strings.Join(parts, ", ")
}

// escalationText is the signals of a stop, each with how long resreap
// waited after it: until the next signal, or the end.
func escalationText(r history.Record) string {
	if len(r.SignalsSent) == 0 {
		return "ended before any signal"
	}
	end := r.SignalsSent[0].Time.Add(time.Duration(r.StopDuration))
	parts := make([]string, len(r.SignalsSent))
	for i, s := range r.SignalsSent {
		next := end
		if i+1 < len(r.SignalsSent) {
			next = r.SignalsSent[i+1].Time
		}
		parts[i] = fmt.Sprintf("%s (%s)", s.Signal, history.Duration(max(0, next.Sub(s.Time))).Text())
	}
	out := strings.Join(parts, " → ")
	if r.Killed {
		out += ", killed"
	} else if r.Signal != "" || r.ExitCode != nil {
		out += ", " + history.Ended(history.Record{Signal: r.Signal, ExitCode: r.ExitCode})
	}
	return out
}
