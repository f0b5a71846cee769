//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
)

// capture = true saves the leaking front end's state before each health
// stop: its CLOSE_WAIT sockets with their owner, its fd table, its
// status and limits, the evidence, and its output after QUIT (the demo
// prints a "thread dump"); the history's stop record names the directory,
// and only the newest capture_keep are kept.
func TestCaptureBeforeTheKill(t *testing.T) {
	dir := t.TempDir()
	captures := filepath.Join(dir, "captures")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[[child]]
name = "fe"
command = [%q, "demo", "fe-server", "--leak-after", "0s", "--leak-every", "20ms"]
env = { %s = "1" }
stop = { signals = ["QUIT", "TERM"], wait = ["1s", "5s"] }
health = { interval = "200ms", close_wait = { threshold = 5, persist = 2 } }
capture = true
capture_dir = %q
capture_output = "500ms"
capture_keep = 2
`, os.Args[0], mainEnv, captures))
	d := startDaemon(t, cfg)

	hist := filepath.Join(dir, "history.jsonl")
	healthStops := func() []history.Record {
		recs, _, _ := history.Read(hist, history.Filter{Events: []history.Event{history.EventStop}})
		var out []history.Record
		for _, r := range recs {
			if r.Reason == history.ReasonCloseWait {
				out = append(out, r)
			}
		}
		return out
	}
	deadline := time.Now().Add(120 * time.Second)
	for len(healthStops()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d health stops in 120s", len(healthStops()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Stopped, resreap makes no more captures: the last one is final, and
	// it waited for the capture writers.
	d.kill(t, 15)
	stops := healthStops()
	for _, r := range stops {
		if !strings.HasPrefix(r.Capture, filepath.Join(captures, "fe")+"/") || !strings.HasSuffix(r.Capture, fmt.Sprint("-", r.PID)) {
			t.Errorf("stop of pid %d names capture %q", r.PID, r.Capture)
		}
	}

	last := stops[len(stops)-1]
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(last.Capture, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cw := read("close_wait.txt")
	owner := fmt.Sprintf("pid=%d,fd=", last.PID)
	if n := strings.Count(cw, "CLOSE-WAIT"); n < 5 || strings.Count(cw, owner) < 5 {
		t.Errorf("close_wait.txt lists %d sockets (want 5 or more, owned by %s):\n%s", n, owner, cw)
	}
	if fds := read("fds.txt"); strings.Count(fds, "socket:[") < 5 || !strings.Contains(fds, fmt.Sprint(last.PID)) {
		t.Errorf("fds.txt:\n%s", fds)
	}
	if st := read("status"); !strings.Contains(st, fmt.Sprintf("Pid:\t%d\n", last.PID)) {
		t.Errorf("status is not pid %d's:\n%s", last.PID, st)
	}
	if !strings.Contains(read("limits"), "Max open files") {
		t.Error("limits lacks Max open files")
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(read("evidence.json")), &ev); err != nil || ev["reason"] != "close_wait" {
		t.Errorf("evidence.json: %v %v", err, ev)
	}
	if out := read("output.txt"); !strings.Contains(out, "SIGQUIT: thread dump") {
		t.Errorf("output.txt lacks the thread dump:\n%s", out)
	}

	// Pruned to the newest two.
	var kept []string
	ents, _ := os.ReadDir(filepath.Join(captures, "fe"))
	for _, e := range ents {
		kept = append(kept, filepath.Join(captures, "fe", e.Name()))
	}
	if len(kept) != 2 || !slices.Contains(kept, last.Capture) {
		t.Errorf("captures kept %v, want 2 including the newest %s", kept, last.Capture)
	}
}
