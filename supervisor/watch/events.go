//go:build linux

package watch

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/textsafe"
)

// Appender takes the events of the watch; *history.Writer is one. The
// watch calls it from one goroutine at a time (the emitter's lock), so
// it need not be safe for concurrent use.
type Appender interface {
	Append(history.Record) error
}

// emitter sends each event to the output (a text line or a JSON line) and
// to the history, from any goroutine. It is the history's one owner while
// the watch runs: every Append happens under mu, which is what a
// history.Writer (not safe for concurrent use) asks of its caller. A
// failed append is logged and not retried: the watch is a foreground
// command, and its output has the event either way.
type emitter struct {
	mu   sync.Mutex
	out  io.Writer
	json bool
	hist Appender // nil = none; appended to only under mu
	log  zerolog.Logger
}

func (e *emitter) emit(rec history.Record) {
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.out != nil {
		var line []byte
		if e.json {
			// Record's own encoder, not json.Marshal, which would escape
			// the "<" and ">" of the messages again.
			b, err := rec.MarshalJSON()
			if err != nil {
				e.log.Error().Err(err).Msg("encode event")
				return
			}
			line = append(b, '\n')
		} else {
			line = []byte(textLine(rec))
		}
		if _, err := e.out.Write(line); err != nil {
			e.log.Warn().Err(err).Msg("write event")
		}
	}
	if e.hist != nil {
		if err := e.hist.Append(rec); err != nil {
			e.log.Error().Err(err).Str("event", string(rec.Event)).Int("pid", rec.PID).Msg("history append failed")
		}
	}
}

// textLine renders an event for a terminal or a log file:
//
//	2024-05-01T12:00:01.250+02:00 unhealthy pid=4242 java close_wait: 3 CLOSE_WAIT, 10.0.0.5:8080×3
//
// escaped (textsafe) but for its newline: the process name is whatever
// the process set (prctl(PR_SET_NAME) takes any bytes), the message what
// a hook or the kernel said.
func textLine(r history.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s pid=%d %s", r.Time.Format("2006-01-02T15:04:05.000Z07:00"), r.Event, r.PID, r.Child)
	if r.Reason != "" {
		fmt.Fprintf(&b, " %s:", r.Reason)
	}
	if s := r.Evidence.Summary(); s != "" {
		b.WriteString(" " + s)
	}
	if len(r.SignalsSent) > 0 {
		names := make([]string, len(r.SignalsSent))
		for i, s := range r.SignalsSent {
			names[i] = s.Signal
		}
		fmt.Fprintf(&b, " sent %s in %s", strings.Join(names, ","), r.StopDuration)
	}
	if r.Message != "" {
		b.WriteString(" (" + r.Message + ")")
	}
	return textsafe.Escape(b.String()) + "\n"
}
