//go:build linux

package control

import (
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
)

func TestWriteStatusTable(t *testing.T) {
	sup := Supervisor{PID: 812, Started: time.Now().Add(-3 * time.Hour), Ownership: "cgroup", OwnershipDetail: "/resreap", Children: 3, Up: 2}
	st := []ChildStatus{
		{Name: "fe-server", State: "running", StateFor: history.Duration(4 * time.Minute), Up: true, Ready: true, PID: 1234,
			Uptime: history.Duration(26*time.Hour + 5*time.Minute), Restarts: 3, LastReason: "close_wait",
			CloseWait: &CloseWait{Now: 25, Persistent: 3}, FDs: &FDs{Open: 812, Limit: 1024}, Cgroup: &Cgroup{CPU: history.Duration(12300 * time.Millisecond)}},
		{Name: "api", State: "running", StateFor: history.Duration(4 * time.Minute), PID: 88,
			Uptime:    history.Duration(4*time.Minute + 12*time.Second + 300*time.Millisecond),
			CloseWait: &CloseWait{Now: -1, Persistent: 0}, FDs: &FDs{Open: 9}},
		{Name: "worker", State: "backoff", StateFor: history.Duration(2 * time.Second), Restarts: 1, LastReason: "exited"},
	}
	var b strings.Builder
	if err := WriteStatusTable(&b, sup, st); err != nil {
		t.Fatal(err)
	}
	want := `resreap pid 812, up 3h0m: 2 of 3 children up; owned by cgroup (/resreap)
CHILD      STATE                    PID   UPTIME  RESTARTS  LAST REASON  CLOSE_WAIT         FDS          CPU
fe-server  running 4m0s             1234  1d2h    3         close_wait   25 (3 persistent)  812/1024     12.3s
api        running 4m0s, not ready  88    4m12s   0         -            0 persistent       9/unlimited  -
worker     backoff 2s               -     -       1         exited       -                  -            -
`
	if have := b.String(); have != want {
		t.Errorf("have\n%s\nwant\n%s", have, want)
	}
}

// Whatever text the answer carries (a cgroup path, a name, a reason)
// reaches the terminal escaped, and a tab in it moves no column.
func TestWriteStatusTableEscapes(t *testing.T) {
	sup := Supervisor{PID: 9, Started: time.Now().Add(-3 * time.Hour), Ownership: "cgroup", OwnershipDetail: "/x\x1b]0;pwned\a", Children: 2}
	st := []ChildStatus{
		{Name: "a\x1b[2J", State: "running", Ready: true, LastReason: "r\u009b\t1"},
		{Name: "b", State: "stopped", WaitingFor: "c\x7f"},
	}
	var b strings.Builder
	if err := WriteStatusTable(&b, sup, st); err != nil {
		t.Fatal(err)
	}
	want := `resreap pid 9, up 3h0m: 0 of 2 children up; owned by cgroup (/x\x1b]0;pwned\a)
CHILD     STATE              PID  UPTIME  RESTARTS  LAST REASON  CLOSE_WAIT  FDS  CPU
a\x1b[2J  running 0s         -    -       0         r\u009b\t1   -           -    -
b         waiting for c\x7f  -    -       0         -            -           -    -
`
	if have := b.String(); have != want {
		t.Errorf("have\n%s\nwant\n%s", have, want)
	}
	if have := (StopReport{Child: "a\x1b[2J", PID: 1, Signal: "TERM"}).String(); have != `a\x1b[2J pid 1 stopped by TERM after 0s` {
		t.Errorf("stop report %q", have)
	}
}

// The first line names what the history has not taken: events dropped,
// pending (kept for a retry) and failed writes, each only when there are.
func TestWriteStatusTableHistoryCounts(t *testing.T) {
	for _, tc := range []struct {
		sup  Supervisor
		want string
	}{
		{Supervisor{}, ""},
		{Supervisor{HealthSource: "bpf"}, "; CLOSE_WAIT from BPF events"},
		{Supervisor{HealthSource: "netlink", HealthSourceWhy: "not permitted"}, "; CLOSE_WAIT from netlink dump"},
		{Supervisor{HistoryPending: 12, HistoryFailed: 3}, "; 12 history events pending; 3 history writes failed (see the log)"},
		{Supervisor{HistoryDropped: 2, HistoryPending: 10000, HistoryFailed: 40},
			"; 0 output lines and 2 history events dropped; 10000 history events pending; 40 history writes failed (see the log)"},
	} {
		tc.sup.PID, tc.sup.Started, tc.sup.Ownership = 9, time.Now(), "cgroup"
		var b strings.Builder
		if err := WriteStatusTable(&b, tc.sup, nil); err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(b.String(), "\n")
		if want := "resreap pid 9, up 0s: 0 of 0 children up; owned by cgroup" + tc.want; first != want {
			t.Errorf("have %q\nwant %q", first, want)
		}
	}
}

// Below the table, a child whose last start failed shows its last
// output, escaped, and where all of it is.
func TestWriteStatusTableFailedStart(t *testing.T) {
	var b strings.Builder
	sup := Supervisor{PID: 9, Started: time.Now(), Ownership: "cgroup", Children: 2, Up: 1}
	st := []ChildStatus{
		{Name: "api", State: "running", Ready: true, Up: true},
		{Name: "web", State: "backoff", LastReason: "start_failed", LastExit: "exit 1", OutputTail: &history.OutputTail{
			Lines: []string{"starting", "[emerg] unexpected \"}\" in \x1b[1mnginx.conf:4"}, FullOutput: "/var/log/web.err"}},
	}
	if err := WriteStatusTable(&b, sup, st); err != nil {
		t.Fatal(err)
	}
	want := `
web: last start failed (exit 1); its last output (all of it in /var/log/web.err):
  starting
  [emerg] unexpected "}" in \x1b[1mnginx.conf:4
`
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("have\n%s\nwant it to end in\n%s", b.String(), want)
	}
}

// What the children's cgroups lack is said on the second line.
func TestWriteStatusTableCgroupMissing(t *testing.T) {
	var b strings.Builder
	sup := Supervisor{PID: 9, Started: time.Now(), Ownership: "cgroup", CgroupMissing: "memory (at /sys/fs/cgroup/memory) bound to cgroup v1: no memory figures"}
	if err := WriteStatusTable(&b, sup, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if len(lines) < 2 || lines[1] != "cgroup controllers missing: memory (at /sys/fs/cgroup/memory) bound to cgroup v1: no memory figures" {
		t.Errorf("have\n%s", b.String())
	}
}

// One child is "1 child", not "1 children".
func TestWriteStatusTableOneChild(t *testing.T) {
	var b strings.Builder
	sup := Supervisor{PID: 9, Started: time.Now(), Ownership: "cgroup", Children: 1, Up: 1}
	if err := WriteStatusTable(&b, sup, nil); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(b.String(), "\n"); first != "resreap pid 9, up 0s: 1 of 1 child up; owned by cgroup" {
		t.Errorf("first line %q", first)
	}
}

// While resreap has not added its children, status says so instead of
// "0 of 0 children up".
func TestWriteStatusTableStarting(t *testing.T) {
	var b strings.Builder
	sup := Supervisor{PID: 9, Started: time.Now(), Ownership: "cgroup", Starting: true}
	if err := WriteStatusTable(&b, sup, nil); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(b.String(), "\n"); first != "resreap pid 9, up 0s: starting, children not added yet; owned by cgroup" {
		t.Errorf("first line %q", first)
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
