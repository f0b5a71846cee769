//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
)

// Paths: no file a less privileged local user can plant becomes a root
// write. `check` names each such path with file:line, `run` refuses the
// file before it starts anything, and a reload that brings one in is
// rejected while the children keep running.

// hostile is what a test prepares for a local user to abuse: base, a
// root directory other users can enter, holding user (a directory the
// user owns), tmp (sticky and world-writable, as /tmp), root (a root
// directory with a root file, victim, and a secret env file), and the
// check that none of root's changed.
type hostile struct {
	u                    testchild.User
	base, user, tmp      string
	root, victim, secret string
}

func newHostile(t *testing.T) *hostile {
	t.Helper()
	h := &hostile{u: testchild.NewUser(t), base: t.TempDir()}
	for _, p := range []string{filepath.Dir(h.base), h.base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.user, h.tmp, h.root = filepath.Join(h.base, "user"), filepath.Join(h.base, "tmp"), filepath.Join(h.base, "root")
	for _, d := range []string{h.user, h.tmp, h.root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(h.user, h.u.UID, h.u.GID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.tmp, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	h.victim, h.secret = filepath.Join(h.root, "victim"), filepath.Join(h.root, "secret.env")
	if err := os.WriteFile(h.victim, []byte("root data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.secret, []byte("ROOT_SECRET=hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// plant runs argv as the user.
func (h *hostile) plant(t *testing.T, argv ...string) { h.u.Run(t, argv...) }

// unchanged fails the test if the root file changed or the root
// directory holds anything but what newHostile put there.
func (h *hostile) unchanged(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(h.victim); err != nil || string(b) != "root data\n" {
		t.Errorf("root file %s changed: %q, %v", h.victim, b, err)
	}
	if have := dirNames(t, h.root); !slices.Equal(have, []string{"secret.env", "victim"}) {
		t.Errorf("root directory %s holds %v, want [secret.env victim]", h.root, have)
	}
}

// pathsConfig writes resreap.toml in dir (a root directory) with the
// [supervisor] lines sup and the children, and returns its path and text.
func pathsConfig(t *testing.T, dir, sup, children string) (string, string) {
	t.Helper()
	text := fmt.Sprintf(`[supervisor]
%s

[defaults]
start_seconds = "100ms"
backoff = { initial = "50ms", max = "200ms" }
stop = { signals = ["TERM"], wait = "1s" }

%s`, sup, children)
	path := filepath.Join(dir, "resreap.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, text
}

// lineOf is the 1-based line of text that starts with prefix, or 0.
func lineOf(text, prefix string) int {
	for i, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	return 0
}

// runUntilRefused runs `resreap run -c cfg` and waits up to bound for it
// to exit. One still running then has started: it is stopped with TERM
// (and killed after a minute), and started is true.
func runUntilRefused(t *testing.T, cfg string, bound time.Duration) (code int, out string, took time.Duration, started bool) {
	t.Helper()
	cmd := resreapCmd("run", "-c", cfg, "--log-format", "json")
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(bound):
		started = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-done
		}
	}
	return cmd.ProcessState.ExitCode(), buf.String(), time.Since(start), started
}

// A local user prepares, in turn, each path resreap writes as root: a
// state_dir it owns with history.jsonl and resreap.lock planted as links
// to root's files, an env_file linked to root's secret, a control socket
// directory planted as a link to a root directory, and a child's log file
// linked to a root file. `check` reports each with file:line and exits 2;
// `run` exits 2 at once and starts nothing; no root file is written or
// created.
func TestFaultPathsPlanted(t *testing.T) {
	quickExit(t)
	for _, tc := range []struct {
		name string
		key  string // the key check names, and the line it is on
		// config returns the [supervisor] lines and the children, after
		// planting what the user plants.
		config func(t *testing.T, h *hostile, marker string) (sup, children string)
	}{
		{"state_dir of a user, history and lock planted", "state_dir", func(t *testing.T, h *hostile, marker string) (string, string) {
			h.plant(t, "ln", "-s", h.victim, filepath.Join(h.user, "history.jsonl"))
			h.plant(t, "ln", "-s", filepath.Join(h.root, "made"), filepath.Join(h.user, "resreap.lock"))
			return fmt.Sprintf("state_dir = %q\ncontrol_socket = %q", h.user, filepath.Join(h.base, "run", "control.sock")),
				markerChild("a", "", marker, "")
		}},
		{"env_file linked to root's secret", "env_file", func(t *testing.T, h *hostile, marker string) (string, string) {
			h.plant(t, "ln", "-s", h.secret, filepath.Join(h.tmp, "app.env"))
			return fmt.Sprintf("state_dir = %q\ncontrol_socket = %q", filepath.Join(h.base, "state"), filepath.Join(h.base, "run", "control.sock")),
				markerChild("a", h.u.Name, marker, fmt.Sprintf("env_file = %q\n", filepath.Join(h.tmp, "app.env")))
		}},
		{"control socket directory planted as a link", "control_socket", func(t *testing.T, h *hostile, marker string) (string, string) {
			h.plant(t, "ln", "-s", h.root, filepath.Join(h.tmp, "run"))
			return fmt.Sprintf("state_dir = %q\ncontrol_socket = %q", filepath.Join(h.base, "state"), filepath.Join(h.tmp, "run", "control.sock")),
				markerChild("a", "", marker, "")
		}},
		{"child log linked to a root file", "stdout", func(t *testing.T, h *hostile, marker string) (string, string) {
			h.plant(t, "ln", "-s", h.victim, filepath.Join(h.user, "a.log"))
			return fmt.Sprintf("state_dir = %q\ncontrol_socket = %q", filepath.Join(h.base, "state"), filepath.Join(h.base, "run", "control.sock")),
				markerChild("a", "", marker, fmt.Sprintf("stdout = { file = %q }\n", filepath.Join(h.user, "a.log")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostile(t)
			marker := filepath.Join(h.tmp, "started")
			sup, children := tc.config(t, h, marker)
			cfg, text := pathsConfig(t, h.base, sup, children)
			line := lineOf(text, tc.key+" =")
			want := regexp.MustCompile(fmt.Sprintf(`resreap\.toml:%d: [^\n]*%s[^\n]*: [^\n]*(owned by|symbolic link)`, line, regexp.QuoteMeta(tc.key)))

			checkCode, out := resreap(t, "check", "-c", cfg)
			if checkCode != 2 || !want.MatchString(out) {
				t.Errorf("check: exit %d, want 2 and a line matching %s:\n%s", checkCode, want, out)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("check shows root's secret:\n%s", out)
			}
			code, out, took, started := runUntilRefused(t, cfg, 20*time.Second)
			if started || code != 2 || !want.MatchString(out) {
				t.Errorf("run: exit %d after %s (started: %v), want 2 at once and a line matching %s:\n%s",
					code, took.Round(time.Millisecond), started, want, tail(out, 20))
			}
			if b, err := os.ReadFile(marker); err == nil {
				t.Errorf("a child ran (it wrote %q)", strings.TrimSpace(string(b)))
			}
			h.unchanged(t)
			t.Logf("check: exit %d (line %d); run: exit %d after %s, started: %v", checkCode, line, code, took.Round(time.Millisecond), started)
		})
	}
}

// markerChild is a child that writes what $ROOT_SECRET holds to marker,
// prints a line and then waits, run as user (resreap's own when empty),
// with extra lines for its table.
func markerChild(name, user, marker, extra string) string {
	s := fmt.Sprintf("[[child]]\nname = %q\ncommand = [\"sh\", \"-c\", %q]\n", name,
		fmt.Sprintf(`echo "secret=$ROOT_SECRET" > %s; echo child output; exec sleep 600`, marker))
	if user != "" {
		s += fmt.Sprintf("user = %q\n", user)
	}
	return s + extra
}

// A reload that brings in a child whose log the user has linked to a root
// file is rejected with file:line: the running child keeps its process,
// the new one is not started, and the root file is untouched.
func TestFaultPathsReloadRefused(t *testing.T) {
	quickExit(t)
	h := newHostile(t)
	dir := filepath.Join(h.base, "cfg")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sup := fmt.Sprintf("state_dir = %q\ncontrol_socket = %q", filepath.Join(h.base, "state"), filepath.Join(h.base, "run", "control.sock"))
	cfg, _ := pathsConfig(t, dir, sup, markerChild("a", "", filepath.Join(dir, "a.started"), ""))
	r := startRun(t, cfg, runOpts{})
	before := waitStatus(t, cfg, running("a"))

	h.plant(t, "ln", "-s", h.victim, filepath.Join(h.user, "b.log"))
	b := markerChild("b", "", filepath.Join(dir, "b.started"), fmt.Sprintf("stdout = { file = %q }\n", filepath.Join(h.user, "b.log")))
	_, text := pathsConfig(t, dir, sup, markerChild("a", "", filepath.Join(dir, "a.started"), "")+"\n"+b)
	code, out, took := ctl("reload", "-c", cfg)
	want := fmt.Sprintf("resreap.toml:%d: child[b].stdout.file: ", lineOf(text, "stdout = "))
	if code == 0 || !strings.Contains(out, want) {
		t.Errorf("reload: exit %d, want a refusal with %q:\n%s", code, want, out)
	}
	st := mustStatus(t, cfg, 10*time.Second)
	var names []string
	for _, c := range st.Children {
		names = append(names, c.Name)
		if c.Name == "a" && (c.State != "running" || fmt.Sprint(c.PID) != fmt.Sprint(before["a"]["pid"])) {
			t.Errorf("a is %s with pid %d, want still running with pid %v", c.State, c.PID, before["a"]["pid"])
		}
	}
	if !slices.Equal(names, []string{"a"}) {
		t.Errorf("children %v after the rejected reload, want [a]", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.started")); err == nil {
		t.Error("b was started")
	}
	r.stop(t, syscall.SIGTERM, 30*time.Second)
	h.unchanged(t)
	t.Logf("reload: exit %d after %s: %s", code, took.Round(time.Millisecond), strings.TrimSpace(out))
}
