//go:build linux

package history

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/health"
)

func intp(i int) *int { return &i }

func TestWriteTable(t *testing.T) {
	crash := rec("worker", EventExit, 5)
	crash.Reason, crash.ExitCode, crash.Uptime = ReasonExited, intp(3), Duration(42*time.Second)
	failed := rec("worker", EventStart, 6)
	failed.Reason, failed.Message = ReasonStartFailed, "exec: no such file\tor dir"
	early := rec("web", EventExit, 7)
	early.Reason, early.ExitCode = ReasonStartFailed, intp(1)
	early.OutputTail = &OutputTail{Lines: []string{"starting", `[emerg] unexpected "}" in nginx.conf:4`}, FullOutput: "resreap's own output"}
	held := rec("worker", EventDeferred, 8)
	held.Reason, held.Group, held.Message = ReasonLiveness, "workers", "group workers: 1 of 2 members down, max_unavailable 1: w2 (restarting)"
	held.Evidence = &health.Evidence{Reason: health.ReasonLiveness, Probe: "own probe", Failures: 3}
	recs := []Record{fullRecord(), crash, failed, early, held}

	var buf bytes.Buffer
	if err := WriteTable(&buf, recs); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("have %d lines, want header and 5 rows:\n%s", len(lines), out)
	}
	for _, want := range []string{"TIME", "CHILD", "ENDED", "fe-server", "restart", "close_wait",
		"4242", "TERM→KILL (killed)", "3h0m ", "1.503s", "12 CLOSE_WAIT", "10.0.0.5:8080×12",
		"fds 900/1024", "exit 3", "42s", `exec: no such file\tor dir`, `last output: [emerg] unexpected "}" in nginx.conf:4`,
		// A deferred row: its own evidence, then the group's members down.
		"3 probes failed, last: own probe; group workers: 1 of 2 members down, max_unavailable 1: w2 (restarting)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Aligned: every row starts its CHILD column where the header does.
	col := strings.Index(lines[0], "CHILD")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "fe-server") && !strings.HasPrefix(l[col:], "worker") && !strings.HasPrefix(l[col:], "web") {
			t.Errorf("row not aligned with header:\n%s\n%s", lines[0], l)
		}
	}
}

// Text from outside (a child's name in an old file, a start error naming
// the program, a probe's error in the evidence, a group) reaches the
// tables escaped: one row per record, no byte a terminal acts on.
func TestTablesEscapeControlCharacters(t *testing.T) {
	failed := rec("bad\x1b[2J", EventStart, 1)
	failed.Reason, failed.Message = ReasonStartFailed, "exec /opt/\x1b]0;pwned\a: no such file\nor dir"
	live := rec("fe", EventRestart, 2)
	live.Reason, live.Evidence = ReasonLiveness, &health.Evidence{Reason: health.ReasonLiveness, Probe: "/p\u009b2J: exit 1", Failures: 3}
	group := Record{Time: live.Time, Group: "g\x7f", Event: EventCorrelated, Message: "\xff\xfe"}
	recs := []Record{failed, live, group}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"table":   func(b *bytes.Buffer) error { return WriteTable(b, recs) },
		"summary": func(b *bytes.Buffer) error { return WriteSummary(b, recs) },
	} {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && (r < 0x20 || r >= 0x7f && r < 0xa0) }); i >= 0 {
			t.Errorf("%s: raw control character at %d:\n%q", name, i, out)
		}
		if !strings.Contains(out, `bad\x1b[2J`) {
			t.Errorf("%s: no escaped child name:\n%s", name, out)
		}
		if name == "table" {
			if n := strings.Count(out, "\n"); n != 4 {
				t.Errorf("table: %d lines, want a header and 3 rows:\n%s", n, out)
			}
			for _, want := range []string{`exec /opt/\x1b]0;pwned\a: no such file\nor dir`, `/p\u009b2J: exit 1`, `group g\x7f`, `\xff\xfe`} {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %s:\n%s", want, out)
				}
			}
		}
	}
}

func TestEnded(t *testing.T) {
	sig := func(names ...string) []SignalSent {
		var out []SignalSent
		for _, n := range names {
			out = append(out, SignalSent{Signal: n})
		}
		return out
	}
	for _, tc := range []struct {
		r    Record
		want string
	}{
		{Record{}, ""},
		{Record{ExitCode: intp(0)}, "exit 0"},
		{Record{Signal: "SEGV"}, "signal SEGV"},
		{Record{SignalsSent: sig("TERM"), ExitCode: intp(0)}, "TERM (exit 0)"},
		{Record{SignalsSent: sig("QUIT", "TERM"), Signal: "TERM"}, "QUIT→TERM (signal TERM)"},
		{Record{SignalsSent: sig("TERM", "KILL"), Signal: "KILL", Killed: true}, "TERM→KILL (killed)"},
		{Record{SignalsSent: sig("TERM"), Killed: true}, "TERM→KILL (killed)"},
		{Record{Killed: true}, "KILL (killed)"},
		{Record{SignalsSent: sig("TERM")}, "TERM"},
	} {
		if have := Ended(tc.r); have != tc.want {
			t.Errorf("Ended(%+v) = %q, want %q", tc.r, have, tc.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "-"},
		{1503 * time.Millisecond, "1.503s"},
		{25*time.Minute + 3400*time.Millisecond, "25m3s"},
		{26*time.Hour + 5*time.Minute + 7*time.Second, "26h5m"},
		{3 * time.Hour, "3h0m"},
	} {
		if have := shortDuration(Duration(tc.d)); have != tc.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tc.d, have, tc.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	recs := []Record{fullRecord(), rec("b", EventStart, 1)}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, recs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("have %d lines, want 2", len(lines))
	}
	for i, l := range lines {
		r, err := decodeLine([]byte(l))
		if err != nil || r.Child != recs[i].Child {
			t.Errorf("line %d: %v, %+v", i+1, err, r)
		}
	}
}

// A restart is a start attempt after the child's first in a run of
// resreap (restarts > 0), counted under the reason of what ended the
// process before it; resreap's own records (reload) make no row.
func TestWriteSummary(t *testing.T) {
	var recs []Record
	add := func(child string, ev Event, reason Reason, n, restarts, pid int) {
		r := rec(child, ev, n)
		r.Reason, r.Restarts, r.PID = reason, restarts, pid
		recs = append(recs, r)
	}
	add("fe-server", EventStart, "", 1, 0, 10)
	add("fe-server", EventStop, ReasonCloseWait, 2, 0, 10)
	add("fe-server", EventRestart, ReasonCloseWait, 2, 1, 10)
	add("fe-server", EventStart, "", 3, 1, 11)
	add("fe-server", EventExit, ReasonExited, 4, 0, 11) // a crash, zero backoff
	add("fe-server", EventStart, "", 4, 2, 12)
	add("fe-server", EventStop, ReasonCloseWait, 5, 0, 12)
	add("fe-server", EventStart, "", 6, 3, 13)
	add("", EventReload, ReasonReload, 7, 0, 0)
	add("batch", EventStart, "", 8, 0, 20)
	add("api", EventStart, ReasonStartFailed, 9, 0, 0) // never ran
	add("api", EventStart, "", 10, 1, 30)
	add("fe-server", EventStop, ReasonShutdown, 11, 0, 13)

	var buf bytes.Buffer
	if err := WriteSummary(&buf, recs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("have %d lines, want header and 3 children (no row for reload):\n%s", len(lines), buf.String())
	}
	for i, want := range [][]string{
		{"CHILD", "RESTARTS", "BY REASON", "LAST RESTART", "LAST REASON"},
		{"api", "1", "start_failed×1", "start_failed"},
		{"batch", "0", "-"},
		{"fe-server", "3", "close_wait×2, exited×1", "close_wait"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %q: %s", i+1, w, lines[i])
			}
		}
	}
	// The last restart of fe-server is its start at +6s, not the later stop.
	last := time.Date(2026, 11, 25, 10, 0, 6, 0, time.UTC).Local().Format(tableTime)
	if !strings.Contains(lines[3], last) {
		t.Errorf("fe-server row lacks last restart time %s: %s", last, lines[3])
	}
}

func TestWriteSummaryJSON(t *testing.T) {
	recs := []Record{rec("fe-server", EventStart, 1), rec("fe-server", EventStop, 2), rec("fe-server", EventStart, 3), rec("batch", EventStart, 4)}
	recs[1].Reason = ReasonCloseWait
	recs[2].Restarts = 1
	var buf bytes.Buffer
	if err := WriteSummaryJSON(&buf, recs); err != nil {
		t.Fatal(err)
	}
	want := `{"child":"batch","restarts":0,"by_reason":{}}` + "\n" +
		`{"child":"fe-server","restarts":1,"by_reason":{"close_wait":1},"last_restart":"2026-11-25T10:00:03.000Z","last_reason":"close_wait"}` + "\n"
	if buf.String() != want {
		t.Errorf("have\n%s\nwant\n%s", buf.String(), want)
	}
}

// Rows written in batches line up with the header as long as no later
// cell is wider than the first batch's.
func TestTableWriterBatches(t *testing.T) {
	var buf bytes.Buffer
	tw := NewTableWriter(&buf)
	if err := tw.Write([]Record{rec("fe-server", EventStart, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Write([]Record{rec("a", EventExit, 2)}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header and two rows:\n%s", buf.String())
	}
	col := strings.Index(lines[0], "EVENT")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "start") && !strings.HasPrefix(l[col:], "exit") {
			t.Errorf("EVENT column at %d not aligned:\n%s", col, buf.String())
		}
	}
}
