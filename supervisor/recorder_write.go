//go:build linux

package supervisor

import (
	"fmt"
	"slices"
	"time"

	"github.com/resreap/resreap/internal/history"
)

// recorderTiming is how long the recorder waits, for what.
type recorderTiming struct {
	// A failed history write is retried after retryFirst, then each time
	// twice as late, at most retryMax apart: quick enough that a disk
	// freed by an operator is used within seconds, rare enough that a
	// history broken for hours costs one failed write every few seconds.
	retryFirst, retryMax time.Duration
	// holdNotes bounds how long a write that has not returned holds back
	// the log. A note waits for the events queued before it, and an event
	// is logged once synced; past holdNotes the events queued are logged
	// at once as pending and the notes behind them follow, so a stalled
	// history (a hung NFS server) delays the log by a second, not for as
	// long as it hangs.
	holdNotes time.Duration
	// failLogEvery is how often a history that keeps failing is logged
	// again, beside the events logged as pending, which say it too.
	failLogEvery time.Duration
	// drainWait bounds how long shutdown waits for the queue.
	drainWait time.Duration
}

var defaultTiming = recorderTiming{
	retryFirst:   100 * time.Millisecond,
	retryMax:     5 * time.Second,
	holdNotes:    time.Second,
	failLogEvery: time.Minute,
	drainWait:    drainWait,
}

// How notes behave while the history is failing or stalled: a note is
// logged once every entry before it in the queue has been logged, never
// before. While the history works, an event is logged only after its
// fsync (recorded:true), so "fe running" follows "fe started" in the log
// as in time. Once a write has failed, or has not returned after
// holdNotes, the events queued are logged at once as pending
// (recorded:false, history:"pending"), each exactly once, and so is every
// event queued until the history works again; the notes behind them are
// then logged at once too. The log thus keeps its order and never waits
// for a broken history longer than holdNotes; the history keeps its order
// too, as the events stay queued until written. When the backlog is
// written one line says so ("N queued history events recorded after
// 12s"): an event logged as pending is not logged a second time.

// writeLoop is the state of the recorder's writing goroutine (run); no
// other goroutine touches it.
type writeLoop struct {
	r        *recorder
	writes   chan []history.Record // to the sink's owner (own)
	results  chan []error          // from it; buffered 1, as one write at most is in flight
	sinkDone chan struct{}         // closed when own has closed the sink

	inflight int // entries of the queue, from its head, that the write in progress covers; 0: no write
	logged   int // entries of the queue, from its head, already logged

	stall, retry *time.Timer // nil when not armed
	stalled      bool        // the write in progress has taken over holdNotes
	failing      bool        // the last write failed
	closing      bool        // close was called: the retry has been brought forward
	backoff      time.Duration
	since        time.Time // when the history first failed or stalled, for the backlog line
	announced    int       // events logged as pending and still queued
	late         int       // events logged as pending, since written
	attempts     int       // failed writes since the last success
	lastErr      error
	errLogged    time.Time
}

// run writes the queue to the history until the recorder is closed and
// its queue written, or close gives up waiting.
func (r *recorder) run() {
	defer close(r.done)
	l := &writeLoop{r: r, writes: make(chan []history.Record), results: make(chan []error, 1), sinkDone: make(chan struct{})}
	go r.own(l.writes, l.results, l.sinkDone)
	for {
		l.settle()
		if l.finished() {
			close(l.writes)
			select {
			case <-l.sinkDone:
			case <-r.giveUp:
			}
			return
		}
		l.startWrite()
		select {
		case <-r.wake:
		case errs := <-l.results:
			l.finishWrite(errs)
		case <-timerC(l.retry):
			l.retry = nil
		case <-timerC(l.stall):
			l.stall = nil
			l.stalledNow()
		case <-r.giveUp:
			l.abandon()
			return
		}
	}
}

// timerC is t's channel, or nil (never ready) for no timer.
func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// announcing reports whether queued events are logged before they are
// written: the history is failing, or a write has stalled.
func (l *writeLoop) announcing() bool { return l.failing || l.stalled }

// settle logs, in queue order, what can be logged now: the notes with
// nothing unlogged before them and, while announcing, the events queued,
// as pending. With no write in flight it then drops the logged notes at
// the head, so that the queue starts with an event or is empty.
func (l *writeLoop) settle() {
	r := l.r
	r.mu.Lock()
	k := 0
	for _, p := range r.queue[l.logged:] {
		if p.note == "" && !l.announcing() {
			break
		}
		k++
	}
	now := slices.Clone(r.queue[l.logged : l.logged+k])
	r.mu.Unlock()
	for _, p := range now {
		if p.note == "" {
			p.ev = p.ev.Str("history", "pending")
			l.announced++
		}
		p.log(false)
	}
	l.logged += k
	if l.inflight > 0 {
		return
	}
	r.mu.Lock()
	for l.logged > 0 && r.queue[0].note != "" {
		r.queue[0] = pendingEvent{}
		r.queue = r.queue[1:]
		l.logged--
	}
	r.mu.Unlock()
}

// finished reports whether the recorder is closed and has nothing left.
func (l *writeLoop) finished() bool {
	r := l.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed && !l.closing {
		// Shutdown: the space may be back, and drainWait is short; try
		// now rather than at the end of a backoff of up to retryMax.
		l.closing = true
		if l.retry != nil {
			l.retry.Stop()
			l.retry, l.backoff = nil, 0
		}
	}
	return r.closed && len(r.queue) == 0 && l.inflight == 0
}

// startWrite hands every event queued to the sink's owner, unless a write
// is in flight or a retry is not due yet.
func (l *writeLoop) startWrite() {
	r := l.r
	if l.inflight > 0 || l.retry != nil {
		return
	}
	r.mu.Lock()
	if r.pending == 0 {
		r.mu.Unlock()
		return
	}
	recs := make([]history.Record, 0, r.pending)
	for _, p := range r.queue {
		if p.note == "" {
			recs = append(recs, p.rec)
		}
	}
	l.inflight = len(r.queue)
	r.mu.Unlock()
	l.writes <- recs
	l.stall = time.NewTimer(l.r.tm.holdNotes)
}

// finishWrite takes the outcome of the write in flight: the events written
// (and the notes between them) leave the queue, logged now unless they
// were logged as pending; the first event not written and all behind it
// stay, to be retried.
func (l *writeLoop) finishWrite(errs []error) {
	r := l.r
	if l.stall != nil {
		l.stall.Stop()
		l.stall = nil
	}
	l.stalled = false
	r.mu.Lock()
	batch := slices.Clone(r.queue[:l.inflight])
	r.mu.Unlock()

	var failErr error
	done, events, lost, j := 0, 0, 0, 0
	rotLogged := false
entries:
	for i, p := range batch {
		if p.note != "" {
			if i >= l.logged {
				p.log(false)
			}
			done = i + 1
			continue
		}
		err := errs[j]
		j++
		switch {
		case onDisk(err):
			if err != nil && !rotLogged {
				rotLogged = true
				r.log.Error().Err(err).Msg("history rotation failed; the records were written")
			}
			if i >= l.logged {
				p.log(true)
			} else {
				l.late++
				l.announced--
			}
		case permanent(err):
			lost++
			r.log.Error().Err(err).Str("child", p.rec.Child).Str("event", string(p.rec.Event)).
				Msg("HISTORY WRITE FAILED: event cannot be written, not recorded")
			if i >= l.logged {
				p.ev = p.ev.Str("history", "cannot be written: not recorded")
				p.log(false)
			} else {
				l.announced--
			}
		default:
			failErr = err
			break entries
		}
		done, events = i+1, events+1
	}

	r.mu.Lock()
	clear(r.queue[:done])
	r.queue = r.queue[done:]
	r.pending -= events
	r.dropped += int64(lost)
	if failErr != nil {
		r.failed++
	}
	r.mu.Unlock()
	l.logged = max(0, l.logged-done)
	l.inflight = 0
	if failErr != nil {
		l.failedNow(failErr)
		return
	}
	l.succeeded()
}

// failedNow notes a failed write: the first of a run of failures is
// logged at once, later ones every failLogEvery, and the retry is armed.
func (l *writeLoop) failedNow(err error) {
	now := time.Now()
	l.attempts++
	l.lastErr = err
	if l.since.IsZero() {
		l.since = now
	}
	l.backoff = min(max(2*l.backoff, l.r.tm.retryFirst), l.r.tm.retryMax)
	pending := l.r.Pending()
	switch {
	case !l.failing:
		l.failing = true
		l.errLogged = now
		l.r.log.Error().Err(err).Int("pending", pending).Str("retry_in", l.backoff.String()).
			Msg("HISTORY WRITE FAILED: events kept in order, retrying until written")
	case now.Sub(l.errLogged) >= l.r.tm.failLogEvery:
		l.errLogged = now
		l.r.log.Error().Err(err).Int("pending", pending).Int("attempts", l.attempts).
			Str("failing_for", history.Duration(now.Sub(l.since)).Text()).
			Msg("HISTORY WRITE STILL FAILING: events kept in order, retrying until written")
	}
	l.retry = time.NewTimer(l.backoff)
}

// succeeded ends a run of failures, and says when the events logged as
// pending have all been written.
func (l *writeLoop) succeeded() {
	l.failing, l.backoff, l.attempts, l.lastErr = false, 0, 0, nil
	if l.announced > 0 {
		return // events logged as pending still wait: queued during the write
	}
	if l.late > 0 {
		l.r.log.Info().Int("events", l.late).Str("after", history.Duration(time.Since(l.since)).Text()).
			Msg(fmt.Sprintf("%d queued history events recorded after %s", l.late, history.Duration(time.Since(l.since)).Text()))
	}
	l.late, l.since = 0, time.Time{}
}

// stalledNow notes a write that has not returned after holdNotes: the
// events queued are logged as pending from now on (by settle).
func (l *writeLoop) stalledNow() {
	l.stalled = true
	if l.since.IsZero() {
		l.since = time.Now()
	}
	if !l.failing {
		l.r.log.Warn().Int("pending", l.r.Pending()).Str("waited", l.r.tm.holdNotes.String()).
			Msg("history write has not returned: events logged as pending, kept in order")
	}
}

// abandon ends the writing when shutdown has waited drainWait: what is
// still queued is counted as dropped and logged, each event not yet
// logged with it. A write still in flight may yet land; it is counted as
// not recorded all the same, as nothing will say otherwise.
func (l *writeLoop) abandon() {
	r := l.r
	r.mu.Lock()
	left := r.queue[l.logged:]
	lost := r.pending
	r.queue, r.pending = nil, 0
	r.dropped += int64(lost)
	r.mu.Unlock()
	for _, p := range left {
		if p.note == "" {
			p.ev = p.ev.Str("history", "shutting down: not recorded")
		}
		p.log(false)
	}
	if lost > 0 {
		ev := r.log.Error().Int("dropped", lost).Str("waited", r.tm.drainWait.String()).Bool("write_in_progress", l.inflight > 0)
		if l.lastErr != nil {
			ev = ev.Err(l.lastErr)
		}
		ev.Msg(fmt.Sprintf("history not written at shutdown: %d queued events not recorded", lost))
	}
	close(l.writes)
}
