//go:build linux

package supervisor

import (
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
)

func TestEventLine(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	code := 3
	for _, tc := range []struct {
		rec  history.Record
		want string
	}{
		{history.Record{Child: "db", Event: history.EventStop, Reason: history.ReasonShutdown, Signal: "TERM",
			SignalsSent: []history.SignalSent{{Signal: "TERM", Time: t0}}, StopDuration: history.Duration(3 * time.Millisecond)},
			"db stopped by TERM in 3ms, reason shutdown"},
		{history.Record{Child: "fe", Event: history.EventStop, Reason: history.ReasonCloseWait, Signal: "KILL", Killed: true,
			SignalsSent:  []history.SignalSent{{Signal: "QUIT", Time: t0}, {Signal: "TERM", Time: t0.Add(2 * time.Second)}, {Signal: "KILL", Time: t0.Add(12 * time.Second)}},
			StopDuration: history.Duration(12*time.Second + 3*time.Millisecond)},
			"fe stopped: QUIT (2s) → TERM (10s) → KILL (3ms), killed, took 12s, reason close_wait"},
		{history.Record{Child: "w", Event: history.EventStop, Reason: history.ReasonManual, ExitCode: &code,
			SignalsSent: []history.SignalSent{{Signal: "TERM", Time: t0}}, StopDuration: history.Duration(time.Second)},
			"w stopped by TERM in 1s (exit 3), reason manual"},
		{history.Record{Child: "w", Event: history.EventExit, Reason: history.ReasonExited, ExitCode: &code,
			Uptime: history.Duration(4 * time.Second), Backoff: history.Duration(time.Second)},
			"w exited: exit 3 after 4s; next start in 1s"},
		{history.Record{Child: "w", Event: history.EventStart, PID: 42, Restarts: 2}, "w started (pid 42), restart 2"},
	} {
		if got := eventLine(tc.rec); got != tc.want {
			t.Errorf("eventLine:\n got %s\nwant %s", got, tc.want)
		}
	}
}
