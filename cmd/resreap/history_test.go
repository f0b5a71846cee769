//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
)

// historyFixture writes a small history: two children, a restart with
// evidence and the start after it.
func historyFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Open(path, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Now()
	for _, r := range []history.Record{
		{Time: now.Add(-3 * time.Hour), Child: "old", PID: 10, Event: history.EventStart},
		{Time: now.Add(-10 * time.Minute), Child: "fe-server", PID: 11, Event: history.EventStart},
		{Time: now.Add(-5 * time.Minute), Child: "fe-server", PID: 11, Event: history.EventStop,
			Reason: history.ReasonCloseWait, Killed: true,
			SignalsSent: []history.SignalSent{{Signal: "TERM"}, {Signal: "KILL"}}},
		{Time: now.Add(-5 * time.Minute), Child: "fe-server", PID: 11, Event: history.EventRestart,
			Reason: history.ReasonCloseWait},
		{Time: now.Add(-5*time.Minute + time.Second), Child: "fe-server", PID: 13, Event: history.EventStart, Restarts: 1},
		{Time: now.Add(-time.Minute), Child: "worker", PID: 12, Event: history.EventExit,
			Reason: history.ReasonExited},
	} {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestRunHistory(t *testing.T) {
	path := historyFixture(t)
	torn := filepath.Join(t.TempDir(), "torn.jsonl")
	data, _ := os.ReadFile(path)
	os.WriteFile(torn, data[:len(data)-10], 0o640)
	config := filepath.Join(t.TempDir(), "resreap.toml")
	os.WriteFile(config, []byte("[supervisor]\nhistory_file = \""+path+"\"\n\n"+
		"[[child]]\nname = \"fe-server\"\ncommand = [\"/bin/true\"]\n"), 0o640)

	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string // each must appear
		notStdout  []string // none may appear
		stderr     string   // must appear; "" = stderr empty
		stdoutRows int      // lines on stdout, header included; 0 = unchecked
	}{
		{name: "table", args: []string{"-f", path}, stdout: []string{"CHILD", "fe-server", "worker", "old", "TERM→KILL (killed)"}, stdoutRows: 7},
		{name: "long file flag", args: []string{"--file=" + path}, stdoutRows: 7},
		{name: "child", args: []string{"-f", path, "--child", "fe-server"}, stdout: []string{"fe-server"}, notStdout: []string{"worker"}, stdoutRows: 5},
		{name: "since age", args: []string{"-f", path, "--since", "1h"}, notStdout: []string{"old"}, stdoutRows: 6},
		{name: "since time", args: []string{"-f", path, "--since", time.Now().Add(-2 * time.Minute).Format(time.RFC3339)}, stdout: []string{"worker"}, stdoutRows: 2},
		{name: "events", args: []string{"-f", path, "--event", "restart,exit"}, notStdout: []string{" stop "}, stdoutRows: 3},
		{name: "last", args: []string{"-f", path, "-n", "3"}, stdout: []string{"worker", "restart"}, stdoutRows: 4},
		{name: "json", args: []string{"-f", path, "--json", "-n", "1"}, stdout: []string{`"child":"worker"`}, stdoutRows: 1},
		{name: "summary", args: []string{"-f", path, "--summary"}, stdout: []string{"RESTARTS", "close_wait×1"}, stdoutRows: 4},
		{name: "config", args: []string{"-c", config, "--child", "worker"}, stdout: []string{"worker"}, stdoutRows: 2},
		{name: "help", args: []string{"--help"}, stdout: []string{"usage: resreap history", "--since"}},
		{name: "torn line warns", args: []string{"-f", torn}, stderr: "torn.jsonl:6: skipped", stdoutRows: 6},

		{name: "missing file", args: []string{"-f", filepath.Join(t.TempDir(), "none")}, code: 1, stderr: "no such file"},
		{name: "directory", args: []string{"-f", t.TempDir()}, code: 1, stderr: "is a directory"},

		{name: "unknown flag", args: []string{"--bogus"}, code: 2, stderr: "--bogus"},
		{name: "bad since", args: []string{"-f", path, "--since", "yesterday"}, code: 2, stderr: "--since"},
		{name: "empty since", args: []string{"-f", path, "--since="}, code: 2, stderr: "--since"},
		{name: "bad event", args: []string{"-f", path, "--event", "restart,sotp"}, code: 2, stderr: `--event: unknown event "sotp"`},
		{name: "bad count", args: []string{"-n", "many"}, code: 2, stderr: "-n, --last"},
		{name: "negative count", args: []string{"-n", "-1"}, code: 2, stderr: "-n/--last"},
		{name: "file and config", args: []string{"-f", path, "-c", config}, code: 2, stderr: "cannot be combined"},
		{name: "summary json", args: []string{"-f", path, "--json", "--summary"}, stdout: []string{`{"child":"fe-server","restarts":1,"by_reason":{"close_wait":1},"last_restart":"`}, stdoutRows: 3},
		{name: "until", args: []string{"-f", path, "--until", "4m"}, notStdout: []string{"worker"}, stdoutRows: 6},
		{name: "since and until", args: []string{"-f", path, "--since", "20m", "--until", "4m"}, notStdout: []string{"worker", "old"}, stdoutRows: 5},
		{name: "bad until", args: []string{"-f", path, "--until", "soon"}, code: 2, stderr: "--until"},
		{name: "follow and until", args: []string{"-f", path, "-F", "--until", "1h"}, code: 2, stderr: "cannot be combined"},
		{name: "follow and summary", args: []string{"-f", path, "--follow", "--summary"}, code: 2, stderr: "cannot be combined"},
		{name: "argument", args: []string{"-f", path, "fe-server"}, code: 2, stderr: `unexpected argument "fe-server"`},
		{name: "missing config", args: []string{"-c", filepath.Join(t.TempDir(), "none.toml")}, code: 2, stderr: "-c/--config"},
		{name: "flag without value", args: []string{"--child"}, code: 2, stderr: "--child"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runHistory(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tc.code, stderr.String())
			}
			out := stdout.String()
			for _, want := range tc.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			for _, bad := range tc.notStdout {
				if strings.Contains(out, bad) {
					t.Errorf("stdout has %q:\n%s", bad, out)
				}
			}
			if rows := strings.Count(out, "\n"); tc.stdoutRows != 0 && rows != tc.stdoutRows {
				t.Errorf("stdout has %d lines, want %d:\n%s", rows, tc.stdoutRows, out)
			}
			errOut := stderr.String()
			if tc.code != 2 && tc.name != "help" {
				// The file read is named first, on stderr.
				header, rest, _ := strings.Cut(errOut, "\n")
				if !strings.HasPrefix(header, "resreap history: /") {
					t.Errorf("stderr does not start by naming the file: %q", errOut)
				}
				errOut = rest
			}
			switch {
			case tc.stderr == "" && errOut != "":
				t.Errorf("unexpected stderr: %s", errOut)
			case !strings.Contains(errOut, tc.stderr):
				t.Errorf("stderr lacks %q: %s", tc.stderr, errOut)
			}
			if tc.code == 2 && strings.Count(errOut, "\n") != 1 {
				t.Errorf("usage error should be one line: %q", errOut)
			}
		})
	}
}

func TestRunHistoryJSONLines(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runHistory([]string{"-f", historyFixture(t), "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("have %d lines, want 6", len(lines))
	}
	for _, l := range lines {
		var r history.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Child == "" {
			t.Errorf("line %q: %v", l, err)
		}
	}
}

// Without -f or -c the history is the history_file of $RESREAP_CONFIG,
// else of the default config, else, when that file does not exist, the
// default history; the line on stderr says which.
func TestHistoryDefaultFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "resreap.toml")
	os.WriteFile(cfg, []byte("[supervisor]\nhistory_file = \""+dir+"/h.jsonl\"\n"), 0o640)
	t.Setenv(configEnv, cfg)
	a, err := parseHistoryArgs(nil, &bytes.Buffer{}, time.Now())
	if want := dir + "/h.jsonl"; err != nil || a.file != want || !strings.Contains(a.source, cfg+" (from $RESREAP_CONFIG)") {
		t.Errorf("RESREAP_CONFIG: have %q%s, %v; want %s from %s", a.file, a.source, err, want, cfg)
	}
	// -c wins over the environment.
	a, err = parseHistoryArgs([]string{"-c", historyConfig(t, "/x/y.jsonl")}, &bytes.Buffer{}, time.Now())
	if err != nil || a.file != "/x/y.jsonl" {
		t.Errorf("-c: have %q, %v", a.file, err)
	}
	t.Setenv(configEnv, "")
	a, err = parseHistoryArgs(nil, &bytes.Buffer{}, time.Now())
	if _, statErr := os.Stat(defaultConfig); os.IsNotExist(statErr) {
		if err != nil || a.file != history.DefaultPath || !strings.Contains(a.source, "there is no "+defaultConfig) {
			t.Errorf("no default config: have %q%s, %v; want %s, saying so", a.file, a.source, err, history.DefaultPath)
		}
	} else if err == nil && !strings.Contains(a.source, "history_file of "+defaultConfig+" (the default)") {
		t.Errorf("default config: have %q%s", a.file, a.source)
	}
	// A file RESREAP_CONFIG names must exist.
	t.Setenv(configEnv, filepath.Join(dir, "none.toml"))
	if _, err := parseHistoryArgs(nil, &bytes.Buffer{}, time.Now()); err == nil || !strings.Contains(err.Error(), "RESREAP_CONFIG") {
		t.Errorf("missing $RESREAP_CONFIG file: %v", err)
	}
}

// historyConfig writes a config whose history_file is file.
func historyConfig(t *testing.T, file string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resreap.toml")
	if err := os.WriteFile(path, []byte("[supervisor]\nhistory_file = \""+file+"\"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// Without -n the last 50 events are printed; -n 0 prints all; --summary
// counts all.
func TestHistoryDefaultLast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Open(path, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)
	for i := range 60 {
		r := history.Record{Time: start.Add(time.Duration(i) * time.Second), Child: "a", PID: 100 + i, Event: history.EventStart, Restarts: i}
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	for _, tc := range []struct {
		args []string
		rows int
	}{
		{[]string{"-f", path}, 51},
		{[]string{"-f", path, "--json"}, 50},
		{[]string{"-f", path, "-n", "0"}, 61},
		{[]string{"-f", path, "-n", "0", "--json"}, 60},
		{[]string{"-f", path, "-n", "7"}, 8},
	} {
		var stdout, stderr bytes.Buffer
		if code := runHistory(tc.args, &stdout, &stderr); code != 0 || strings.Count(stdout.String(), "\n") != tc.rows {
			t.Errorf("%v: exit %d, %d lines, want %d\n%s", tc.args, code, strings.Count(stdout.String(), "\n"), tc.rows, stderr.String())
		}
	}
	var stdout bytes.Buffer
	if code := runHistory([]string{"-f", path, "--summary"}, &stdout, &bytes.Buffer{}); code != 0 || !strings.Contains(stdout.String(), "a      59 ") {
		t.Errorf("--summary should count every restart: %s", stdout.String())
	}
}
