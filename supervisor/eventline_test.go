//go:build linux

package supervisor

import (
	"testing"
	"time"

	"github.com/resreap/resreap/health"
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
		{history.Record{Child: "w", Event: history.EventExit, Reason: history.ReasonExited, ExitCode: &code, Uptime: history.Duration(time.Second),
			Processes: []history.Proc{{PID: 12, Command: "nginx: worker process"}, {PID: 13, Command: "sleep 600"}}},
			"w exited: exit 3 after 1s; killed what it left in its cgroup: 12 (nginx: worker process), 13 (sleep 600)"},
		{history.Record{Child: "w", Event: history.EventExit, Reason: history.ReasonStartFailed, ExitCode: &code,
			Uptime: history.Duration(12 * time.Millisecond), Backoff: history.Duration(time.Second),
			OutputTail: &history.OutputTail{Lines: []string{"a", "no \x1b[1mconfig"}, FullOutput: "/l/w.err"}},
			`w exited: exit 3 after 12ms, a failed start; next start in 1s; its last output: no \x1b[1mconfig (all of it in /l/w.err)`},
		// What a record quotes from outside is escaped.
		{history.Record{Child: "w", Event: history.EventStart, Message: "exec /opt/\x1b]0;pwned\a: no such file"},
			`w failed to start: exec /opt/\x1b]0;pwned\a: no such file`},
		{history.Record{Child: "w", Event: history.EventRestart, Reason: history.ReasonLiveness,
			Evidence: &health.Evidence{Reason: health.ReasonLiveness, Probe: "/p\u009b: exit 1", Failures: 2}},
			"w restarting, reason liveness"},
		{history.Record{Child: "w", Event: history.EventStop, Reason: history.ReasonLiveness, SignalsSent: []history.SignalSent{{Signal: "TERM", Time: t0}},
			Signal: "TERM", Evidence: &health.Evidence{Reason: health.ReasonLiveness, Probe: "/p\u009b: exit 1\n", Failures: 2}},
			`w stopped by TERM in 0s, reason liveness: 2 probes failed, last: /p\u009b: exit 1\n`},
		{history.Record{Child: "fe-1", Event: history.EventDeferred, Reason: history.ReasonCloseWait, Group: "fe",
			Message:  "group fe: 1 of 3 members down, max_unavailable 1: fe-2 (restarting)",
			Evidence: &health.Evidence{Reason: health.ReasonLiveness, Probe: "timeout", Failures: 2}},
			"fe-1 restart deferred, reason close_wait: 2 probes failed, last: timeout; group fe: 1 of 3 members down, max_unavailable 1: fe-2 (restarting)"},
		{history.Record{Group: "g", Event: history.EventCorrelated, Message: "3 of 4 \x1b[2J", Members: []string{"a", "b"}},
			`group g: 3 of 4 \x1b[2J (a, b)`},
	} {
		if got := eventLine(tc.rec); got != tc.want {
			t.Errorf("eventLine:\n got %s\nwant %s", got, tc.want)
		}
	}
}
