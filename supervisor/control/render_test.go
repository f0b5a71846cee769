//go:build linux

package control

import (
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
)

func TestWriteStatusTable(t *testing.T) {
	st := []ChildStatus{
		{Name: "fe-server", State: "running", PID: 1234, Uptime: history.Duration(26*time.Hour + 5*time.Minute),
			Restarts: 3, LastReason: "close_wait", CloseWait: 2, FDs: 812, FDLimit: 1024},
		{Name: "api", State: "running", PID: 88, Uptime: history.Duration(4*time.Minute + 12*time.Second + 300*time.Millisecond),
			FDs: 9, FDLimit: 0},
		{Name: "worker", State: "backoff", Restarts: 1, LastReason: "exited"},
	}
	var b strings.Builder
	if err := WriteStatusTable(&b, st); err != nil {
		t.Fatal(err)
	}
	want := `CHILD      STATE    PID   UPTIME  RESTARTS  LAST REASON  CLOSE_WAIT  FDS
fe-server  running  1234  1d2h    3         close_wait   2           812/1024
api        running  88    4m12s   0         -            0           9/unlimited
worker     backoff  -     -       1         exited       0           -
`
	if have := b.String(); have != want {
		t.Errorf("have\n%s\nwant\n%s", have, want)
	}
}

func TestStopReportString(t *testing.T) {
	zero, three := 0, 3
	sent := func(sigs ...string) []history.SignalSent {
		var s []history.SignalSent
		for _, sig := range sigs {
			s = append(s, history.SignalSent{Signal: sig})
		}
		return s
	}
	tests := []struct {
		r    StopReport
		want string
	}{
		{StopReport{Child: "fe-server", PID: 1234, Signal: "TERM", Duration: history.Duration(1234 * time.Millisecond),
			SignalsSent: sent("TERM", "KILL"), Killed: true},
			"fe-server pid 1234 stopped by TERM after 1.2s (sent TERM, KILL; killed)"},
		{StopReport{Child: "fe-server", PID: 1234, Signal: "KILL", Duration: history.Duration(4 * time.Second),
			SignalsSent: sent("QUIT", "TERM", "KILL"), Killed: true},
			"fe-server pid 1234 stopped by KILL after 4s (sent QUIT, TERM, KILL; killed)"},
		{StopReport{Child: "api", PID: 7, ExitCode: &zero, Duration: history.Duration(31500 * time.Microsecond),
			SignalsSent: sent("TERM")},
			"api pid 7 exited with code 0 after 32ms (sent TERM)"},
		{StopReport{Child: "api", PID: 7, ExitCode: &three, Duration: history.Duration(800 * time.Microsecond)},
			"api pid 7 exited with code 3 after 800µs"},
		{StopReport{Child: "worker"}, "worker was not running"},
	}
	for _, tt := range tests {
		if have := tt.r.String(); have != tt.want {
			t.Errorf("have %q\nwant %q", have, tt.want)
		}
	}
}

func TestReloadReportString(t *testing.T) {
	tests := []struct {
		r    ReloadReport
		want string
	}{
		{ReloadReport{Started: []string{"api"}, Stopped: []string{"old"}, Restarted: []string{"fe", "be"}, Unchanged: []string{"a", "b"}},
			"reloaded: started api; stopped old; restarted fe, be; 2 unchanged"},
		{ReloadReport{Unchanged: []string{"a"}}, "reloaded: no change; 1 unchanged"},
		{ReloadReport{}, "reloaded: no change"},
	}
	for _, tt := range tests {
		if have := tt.r.String(); have != tt.want {
			t.Errorf("have %q\nwant %q", have, tt.want)
		}
	}
}
