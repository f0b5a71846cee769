//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/resreap/resreap/internal/history"
)

const e2eChildren = `
[[child]]
name = "sleeper"
command = ["sleep", "1000"]

[[child]]
name = "stubborn"
command = ["sh", "-c", "trap '' TERM; exec sleep 1000"]
`

// Every control command against a real resreap run.
func TestControlCommandsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, e2eChildren)
	d := startDaemon(t, cfg)
	st := waitStatus(t, cfg, running("sleeper", "stubborn"))

	sock := filepath.Join(dir, "run", "control.sock")
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("control socket %v mode %v", err, fi.Mode())
	}
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v", fi.Mode())
	}

	code, out := resreap(t, "status", "-c", cfg)
	if code != 0 {
		t.Fatalf("status exit %d: %s", code, out)
	}
	contains(t, out, "sleeper", "stubborn", "running")

	// A TERM-ignoring child is stopped by the escalation: TERM, then KILL.
	code, out = resreap(t, "restart", "stubborn", "-c", cfg)
	if code != 0 {
		t.Fatalf("restart exit %d: %s", code, out)
	}
	contains(t, out, "KILL", "killed")
	waitStatus(t, cfg, func(m map[string]map[string]any) bool {
		return m["stubborn"]["state"] == "running" && m["stubborn"]["pid"] != st["stubborn"]["pid"]
	})

	if code, out = resreap(t, "stop", "sleeper", "-c", cfg); code != 0 || !strings.Contains(out, "TERM") {
		t.Errorf("stop: exit %d: %s", code, out)
	}
	waitStatus(t, cfg, func(m map[string]map[string]any) bool { return m["sleeper"]["state"] == "stopped" })
	if code, out = resreap(t, "start", "sleeper", "-c", cfg); code != 0 {
		t.Errorf("start: exit %d: %s", code, out)
	}
	waitStatus(t, cfg, running("sleeper"))
	if code, out = resreap(t, "signal", "sleeper", "USR1", "-c", cfg); code != 0 {
		t.Errorf("signal: exit %d: %s", code, out) // sleep dies of USR1 and is restarted
	}
	for _, bad := range [][]string{{"stop", "nope"}, {"signal", "sleeper", "NOPE"}, {"restart"}} {
		if code, out = resreap(t, append(bad, "-c", cfg)...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", bad, code, out)
		}
	}

	// Reload: add a child, and a bad file changes nothing.
	writeConfig(t, dir, e2eChildren+"\n[[child]]\nname = \"extra\"\ncommand = [\"sleep\", \"1000\"]\n")
	if code, out = resreap(t, "reload", "-c", cfg); code != 0 || !strings.Contains(out, "extra") {
		t.Errorf("reload: exit %d: %s", code, out)
	}
	waitStatus(t, cfg, running("sleeper", "stubborn", "extra"))
	writeConfig(t, dir, e2eChildren+"\n[[child]]\nname = \"extra\"\n")
	if code, out = resreap(t, "reload", "-c", cfg); code != 2 || !strings.Contains(out, "resreap.toml:") {
		t.Errorf("bad reload: exit %d: %s", code, out)
	}
	waitStatus(t, cfg, running("sleeper", "stubborn", "extra"))
	writeConfig(t, dir, e2eChildren)

	// A second resreap on the same socket refuses while the first lives.
	if code, out = resreap(t, "run", "-c", cfg, "--log-format", "json"); code != 1 || !strings.Contains(out, "in use") {
		t.Errorf("second resreap: exit %d: %s", code, out)
	}

	d.kill(t, syscall.SIGTERM)
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("resreap exit %d after TERM", code)
	}
	recs, warns, err := history.Read(filepath.Join(dir, "history.jsonl"), history.Filter{})
	if err != nil || len(warns) > 0 {
		t.Fatalf("history: %v %v", err, warns)
	}
	var stubbornStop *history.Record
	for i, r := range recs {
		if r.Child == "stubborn" && r.Event == history.EventStop && r.Reason == history.ReasonManual {
			stubbornStop = &recs[i]
		}
	}
	if stubbornStop == nil || !stubbornStop.Killed || stubbornStop.Signal != "KILL" || len(stubbornStop.SignalsSent) != 2 ||
		stubbornStop.SignalsSent[0].Signal != "TERM" || stubbornStop.SignalsSent[1].Signal != "KILL" || stubbornStop.StopDuration == 0 {
		t.Errorf("stubborn stop record %+v", stubbornStop)
	}

	// The socket of a dead resreap is stale: a new one takes it over.
	d2 := startDaemon(t, cfg)
	d2.kill(t, syscall.SIGKILL)
	d3 := startDaemon(t, cfg)
	waitStatus(t, cfg, running("sleeper"))
	d3.kill(t, syscall.SIGTERM)
}

// resreap is SIGKILLed again and again while its children crash-loop;
// every event it logged as recorded must be in the history file, which
// must parse (at most a torn last line, skipped with a warning).
func TestHistorySurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
[[child]]
name = "crash-a"
command = ["sh", "-c", "exit 3"]
backoff = { initial = "0s", max = "0s" }

[[child]]
name = "crash-b"
command = ["sh", "-c", "exit 4"]
backoff = { initial = "0s", max = "0s" }
`)
	type key struct {
		child, event string
		pid          float64
	}
	var logged []key
	rounds := 8
	for i := 0; i < rounds; i++ {
		d := startDaemon(t, cfg)
		d.waitLog(t, "exit")
		d.mu.Lock()
		n := len(d.logs)
		d.mu.Unlock()
		// Let it run a little more, then kill it mid-stream.
		for {
			d.mu.Lock()
			more := len(d.logs) > n+20
			d.mu.Unlock()
			if more {
				break
			}
		}
		d.kill(t, syscall.SIGKILL)
		d.mu.Lock()
		for _, m := range d.logs {
			if m["recorded"] == true {
				pid, _ := m["pid"].(float64)
				logged = append(logged, key{m["child"].(string), m["event"].(string), pid})
			}
		}
		d.mu.Unlock()
	}
	recs, warns, err := history.Read(filepath.Join(dir, "history.jsonl"), history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > rounds {
		t.Errorf("%d warnings for %d crashes: %v", len(warns), rounds, warns)
	}
	inFile := map[key]int{}
	for _, r := range recs {
		inFile[key{r.Child, string(r.Event), float64(r.PID)}]++
	}
	missing := 0
	for _, k := range logged {
		if inFile[k] == 0 {
			missing++
			t.Errorf("logged as recorded but not in the file: %+v", k)
		}
	}
	if len(logged) < rounds*10 {
		t.Errorf("only %d recorded events logged", len(logged))
	}
	t.Logf("%d records in the file, %d logged as recorded, %d missing, %d warnings", len(recs), len(logged), missing, len(warns))
}
