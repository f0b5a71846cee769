//go:build linux

package watch

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/history"
)

func TestTextLine(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 1, 250e6, time.UTC)
	ev := &health.Evidence{Reason: health.ReasonCloseWait, CloseWait: 3, ByForeign: map[string]int{"10.0.0.5:8080": 3}}
	for _, tc := range []struct {
		rec  history.Record
		want string
	}{
		{history.Record{Time: at, Event: history.EventUnhealthy, PID: 42, Child: "java", Reason: "close_wait", Evidence: ev, Message: "dry run: would send TERM, then KILL"},
			"2026-05-01T12:00:01.250Z unhealthy pid=42 java close_wait: 3 CLOSE_WAIT, 10.0.0.5:8080×3 (dry run: would send TERM, then KILL)\n"},
		{history.Record{Time: at, Event: history.EventStop, PID: 42, Child: "java", Reason: "close_wait", StopDuration: history.Duration(1500 * time.Millisecond),
			SignalsSent: []history.SignalSent{{Signal: "QUIT"}, {Signal: "TERM"}}, Message: "exited after TERM"},
			"2026-05-01T12:00:01.250Z stop pid=42 java close_wait: sent QUIT,TERM in 1.5s (exited after TERM)\n"},
		{history.Record{Time: at, Event: history.EventVeto, PID: 42, Child: "java", Message: "no"},
			"2026-05-01T12:00:01.250Z veto pid=42 java (no)\n"},
		// A process may name itself anything (prctl PR_SET_NAME).
		{history.Record{Time: at, Event: history.EventVeto, PID: 42, Child: "x\x1b]0;pwned\a", Message: "hook: \x1b[2J\n"},
			"2026-05-01T12:00:01.250Z veto pid=42 x\\x1b]0;pwned\\a (hook: \\x1b[2J\\n)\n"},
	} {
		if have := textLine(tc.rec); have != tc.want {
			t.Errorf("textLine:\nhave %q\nwant %q", have, tc.want)
		}
	}
}

type failingAppender struct{ n int }

func (f *failingAppender) Append(history.Record) error { f.n++; return errors.New("disk full") }

func TestEmitterJSONAndHistory(t *testing.T) {
	var out, logs bytes.Buffer
	app := &failingAppender{}
	e := &emitter{out: &out, json: true, hist: app, log: zerolog.New(&logs)}
	e.emit(history.Record{Event: history.EventVeto, PID: 7, Child: "x", Message: "exit status 1 <nil>"})
	var r history.Record
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.PID != 7 || r.Time.IsZero() {
		t.Errorf("JSON line %q: %v %+v", out.String(), err, r)
	}
	if !strings.Contains(out.String(), "<nil>") {
		t.Errorf("JSON line %q: HTML-escaped", out.String())
	}
	if app.n != 1 || !strings.Contains(logs.String(), "disk full") {
		t.Errorf("history append failure: %d appends, log %q", app.n, logs.String())
	}
}
