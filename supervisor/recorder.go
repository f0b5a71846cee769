//go:build linux

package supervisor

import (
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/history"
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
	closed  bool
	wake    chan struct{} // buffered 1
	done    chan struct{}
}

type pendingEvent struct {
	ev  *zerolog.Event
	rec history.Record
}

func newRecorder(sink HistorySink, log zerolog.Logger) *recorder {
	r := &recorder{sink: sink, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.run()
	return r
}

// add queues an event; it never blocks.
func (r *recorder) add(ev *zerolog.Event, rec history.Record) {
	r.mu.Lock()
	if r.closed || len(r.queue) >= maxPending {
		r.dropped++
		r.mu.Unlock()
		logEvent(ev.Str("history", "queue full: not recorded"), rec, false)
		return
	}
	r.queue = append(r.queue, pendingEvent{ev, rec})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Dropped returns how many events found the queue full.
func (r *recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

func (r *recorder) run() {
	defer close(r.done)
	for range r.wake {
		r.mu.Lock()
		batch, closed := r.queue, r.closed
		r.queue = nil
		r.mu.Unlock()
		for _, p := range batch {
			logEvent(p.ev, p.rec, r.append(p.rec))
		}
		if closed {
			return
		}
	}
}

// append writes rec and reports whether it is on disk.
func (r *recorder) append(rec history.Record) bool {
	if r.sink == nil {
		return false
	}
	err := r.sink.Append(rec)
	switch {
	case err == nil:
		return true
	case errors.Is(err, history.ErrRotate):
		r.log.Error().Err(err).Msg("history rotation failed; the record was written")
		return true
	}
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
		r.log.Error().Int("events", len(left)).Str("waited", drainWait.String()).
			Msg("history stalled at shutdown: events not recorded")
		for _, p := range left {
			logEvent(p.ev, p.rec, false)
		}
	}
}

// logEvent logs rec with ev, saying whether it was recorded.
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
		ev = ev.Str("backoff", time.Duration(rec.Backoff).Round(time.Millisecond).String())
	}
	if rec.Message != "" {
		ev = ev.Str("detail", rec.Message)
	}
	ev.Str("event", string(rec.Event)).Bool("recorded", recorded).Msg(string(rec.Event))
}
