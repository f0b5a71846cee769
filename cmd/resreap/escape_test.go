//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// A real `resreap run`, its log on the console, with children that put
// terminal escapes where an operator reads: one in its output (shown after
// "painter | "), one in its command (a program that does not exist: the
// start error names it), one in the evidence of a liveness restart (the
// exec probe's path) and in what the probe prints (a hook output line).
// `status`, `history` (table and summary), the console log (with the
// child's stderr lines) and resreap's stdout carry no raw control
// character, and show each escape escaped.
func TestNoRawControlCharactersEndToEnd(t *testing.T) {
	sh := testchild.NeedCommand(t, "sh")
	quickExit(t)
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe\x1b[2J")
	script := "#!/bin/sh\nprintf 'probe says \\033]0;pwned\\007\\n'\n[ -e \"$0.ran\" ] && exit 1\n: > \"$0.ran\"\n"
	if err := os.WriteFile(probe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[[child]]
name = "painter"
command = [%[1]s, "-c", "printf 'out \\033]0;pwned\\007 \\302\\233 end\\n'; printf 'err \\033[2J end\\n' >&2; exec sleep 1000"]

[[child]]
name = "badcmd"
command = ["/nonexistent/\u001b]0;pwned\u0007"]
start_limit = { burst = 1, interval = "1m" }

[[child]]
name = "probed"
command = ["sleep", "1000"]
ready = { exec = [%[2]s], interval = "100ms" }
liveness = { failures = 1, interval = "1s" }
`, tomlString(sh), tomlString(probe)))

	cmd := resreapCmd("run", "-c", cfg, "--log-format", "console")
	cmd.Env = append(cmd.Env, "NO_COLOR=1")
	var stdout, stderr testchild.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() //nolint:errcheck // the exit status is checked below
	d := &daemon{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("resreap did not exit 60s after TERM")
		}
		d.checkCgroup(t)
	})

	histFile := filepath.Join(dir, "history.jsonl")
	testchild.WaitWithin(t, "a failed start of badcmd and a liveness restart of probed in the history", 60*time.Second, func() bool {
		recs, _, _ := history.Read(histFile, history.Filter{})
		var failed, restarted bool
		for _, r := range recs {
			failed = failed || r.Child == "badcmd" && r.Event == history.EventStart && r.PID == 0
			restarted = restarted || r.Child == "probed" && r.Event == history.EventRestart && r.Reason == history.ReasonLiveness
		}
		return failed && restarted
	})
	testchild.WaitWithin(t, "painter's lines on resreap's stdout and stderr", 60*time.Second, func() bool {
		return strings.Contains(stdout.String(), "painter | out") && strings.Contains(stderr.String(), "painter | err")
	})
	st, err := statusOf(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Supervisor.Ownership == "cgroup" {
		d.logs = []map[string]any{{"message": "children are owned by cgroup", "cgroup": st.Supervisor.OwnershipDetail}}
	}

	outputs := map[string]string{}
	for _, args := range [][]string{{"status"}, {"history"}, {"history", "--summary"}} {
		code, out := resreap(t, append(args, "-c", cfg)...)
		if code != 0 && !(args[0] == "status" && code == 1) { // status: 1 when a child is not up
			t.Fatalf("%v: exit %d:\n%s", args, code, out)
		}
		outputs[strings.Join(args, " ")] = out
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("resreap did not exit 60s after TERM")
	}
	outputs["console log"], outputs["stdout"] = stderr.String(), stdout.String()

	for name, out := range outputs {
		n, first := rawControls(out)
		t.Logf("%s: %d raw control characters in %d bytes", name, n, len(out))
		if n > 0 {
			t.Errorf("%s: raw control character at %d:\n%q", name, first, out[max(0, first-80):min(len(out), first+80)])
		}
	}
	contains(t, outputs["status"], "painter", "badcmd", "probed")
	contains(t, outputs["history"], `/nonexistent/\x1b]0;pwned\a`, `probe\x1b[2J: exit 1`)
	contains(t, outputs["history --summary"], "probed", "liveness")
	contains(t, outputs["console log"], `badcmd failed to start`, `/nonexistent/\x1b]0;pwned\a`,
		`line="probe says \x1b]0;pwned\a"`, `probe\x1b[2J: exit 1`)
	contains(t, outputs["stdout"], `painter | out \x1b]0;pwned\a \u009b end`)
	contains(t, outputs["console log"], `painter | err \x1b[2J end`)
}

// rawControls counts what a terminal would act on in s (C0 but the
// newline, DEL, C1, a byte that is not UTF-8) and says where the first is.
func rawControls(s string) (n, first int) {
	first = -1
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if terminalControl(r) || r == utf8.RuneError && size == 1 {
			n++
			if first < 0 {
				first = i
			}
		}
		i += size
	}
	return n, first
}

// tomlString quotes s as a TOML basic string: control characters as
// \uXXXX, which TOML has and Go's %q does not write.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
