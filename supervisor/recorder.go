//go:build linux

package supervisor

import (
	"errors"
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

// recorder writes events to the history from a goroutine of its own, then
// logs each with whether it was recorded. A child's owner hands an event
// over and goes on at once, so a slow or stalled history (a disk at 1 IOPS,
// a FIFO) delays the reporting of an event, never a restart or a stop; an
// event is logged as recorded only once the history has synced it. When a
// stalled history lets maxPending events pile up, newer ones are logged at
// once as not recorded, and counted.
type recorder struct {
	sink HistorySink // nil: events are only logged
	log  zerolog.Logger

	mu      sync.Mutex
	queue   []pendingEvent
	dropped int64
	failed  int64 // appends that failed: events not recorded
	closed  bool
	wake    chan struct{} // buffered 1
	done    chan struct{}
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
	r := &recorder{sink: sink, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
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

// enqueue queues p for the writer goroutine, or with the recorder closed
// or its queue full logs it at once: an event as not recorded (and
// counted), a note as it is.
func (r *recorder) enqueue(p pendingEvent) {
	r.mu.Lock()
	if r.closed || len(r.queue) >= maxPending {
		if p.note == "" {
			r.dropped++
			p.ev = p.ev.Str("history", "queue full: not recorded")
		}
		r.mu.Unlock()
		p.log(false)
		return
	}
	r.queue = append(r.queue, p)
	r.mu.Unlock()
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

// Dropped returns how many events found the queue full, and Failed how
// many the history did not take (a write error).
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

func (r *recorder) run() {
	defer close(r.done)
	for range r.wake {
		r.mu.Lock()
		batch, closed := r.queue, r.closed
		r.queue = nil
		r.mu.Unlock()
		r.write(batch)
		if closed {
			return
		}
	}
}

// batchSink is a HistorySink that writes several records with one
// fsync (history.Writer does).
type batchSink interface {
	AppendAll([]history.Record) []error
}

// write writes the events of batch, in one go when the sink can, and
// logs each with whether it is on disk.
func (r *recorder) write(batch []pendingEvent) {
	var idx []int // the records of the batch (not its notes)
	for i, p := range batch {
		if p.note == "" {
			idx = append(idx, i)
		}
	}
	recorded := make([]bool, len(batch))
	if bs, ok := r.sink.(batchSink); ok && len(idx) > 1 {
		recs := make([]history.Record, len(idx))
		for j, i := range idx {
			recs[j] = batch[i].rec
		}
		for j, err := range bs.AppendAll(recs) {
			recorded[idx[j]] = r.outcome(recs[j], err)
		}
	} else {
		for _, i := range idx {
			recorded[i] = r.append(batch[i].rec)
		}
	}
	for i, p := range batch {
		p.log(recorded[i])
	}
}

// append writes rec and reports whether it is on disk.
func (r *recorder) append(rec history.Record) bool {
	if r.sink == nil {
		return false
	}
	return r.outcome(rec, r.sink.Append(rec))
}

// outcome reports whether rec, written with error err, is on disk, and
// logs and counts a failure.
func (r *recorder) outcome(rec history.Record, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, history.ErrRotate):
		r.log.Error().Err(err).Msg("history rotation failed; the record was written")
		return true
	}
	r.mu.Lock()
	r.failed++
	r.mu.Unlock()
	r.log.Error().Err(err).Str("child", rec.Child).Str("event", string(rec.Event)).Msg("HISTORY WRITE FAILED: event not recorded")
	return false
}

// close lets the queued events reach the history, waiting at most
// drainWait; what a stalled history still holds then is logged as not
// recorded.
func (r *recorder) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.done:
	case <-time.After(drainWait):
		r.mu.Lock()
		left := r.queue
		r.queue = nil
		r.mu.Unlock()
		r.log.Error().Int("queued", len(left)).Str("waited", drainWait.String()).
			Msg("history stalled at shutdown: events not recorded")
		for _, p := range left {
			p.log(false)
		}
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
	case history.EventRestart:
		fmt.Fprintf(&b, "%s restarting", who)
	case history.EventDeferred:
		fmt.Fprintf(&b, "%s restart deferred (%s)", who, r.Message)
	case history.EventWouldRestart:
		fmt.Fprintf(&b, "%s would be restarted (%s)", who, r.Message)
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
	if r.Backoff > 0 {
		fmt.Fprintf(&b, "; next start in %s", r.Backoff.Text())
	}
	return textsafe.Escape(b.String())
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
