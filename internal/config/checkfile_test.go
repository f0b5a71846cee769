//go:build linux

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A problem of the file does not hide a problem of the host: both are
// reported, in line order.
func TestCheckFileReportsEverything(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resreap.toml")
	src := `[supervisor]
state_dir = "` + dir + `/state"

[[child]]
name       = "a"
command    = ["/nonexistent/bin/a"]
depends_on = ["nope"]

[[child]]
name    = "b"
command = ["/nonexistent/bin/b"]
restart = "sometimes"
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := CheckFile(path, true)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, have %v", err)
	}
	have := err.Error()
	want := []string{
		":6: child[a].command: program /nonexistent/bin/a does not exist",
		":7: child[a].depends_on: unknown child \"nope\"",
		":11: child[b].command: program /nonexistent/bin/b does not exist",
		":12: child[b].restart: must be always",
	}
	lines := strings.Split(have, "\n")
	if len(lines) != len(want) {
		t.Fatalf("have %d problems, want %d:\n%s", len(lines), len(want), have)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("problem %d: have %q, want %q", i, lines[i], w)
		}
	}
	// Without host checks: the file's problems only.
	if _, err := CheckFile(path, false); err == nil || strings.Contains(err.Error(), "does not exist") {
		t.Errorf("file only: %v", err)
	}
}

// A file that is not TOML has its decode problem only.
func TestCheckFileUndecodable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resreap.toml")
	os.WriteFile(path, []byte("[[child]\nname = \n"), 0o600)
	_, err := CheckFile(path, true)
	if !errors.Is(err, ErrInvalid) || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("have %v", err)
	}
}

// The supervisor's paths and listen address take ${VAR:-default}, as the
// demo does for its directory and ports.
func TestSupervisorExpands(t *testing.T) {
	t.Setenv("RR_DIR", "/srv/rr")
	src := `[supervisor]
state_dir      = "${RR_DIR:-/tmp/x}"
control_socket = "${RR_DIR:-/tmp/x}/c.sock"
history_file   = "${RR_UNSET:-/tmp/h}/history.jsonl"
metrics_listen = "127.0.0.1:${RR_PORT:-9321}"
[[child]]
name = "a"
command = ["a"]
`
	for _, load := range []func() (Supervisor, error){
		func() (Supervisor, error) { c, err := Parse("/x/r.toml", []byte(src)); return c.Supervisor, err },
		func() (Supervisor, error) {
			p := filepath.Join(t.TempDir(), "r.toml")
			os.WriteFile(p, []byte(src), 0o600)
			return LoadSupervisor(p)
		},
	} {
		sc, err := load()
		if err != nil {
			t.Fatal(err)
		}
		if sc.StateDir != "/srv/rr" || sc.ControlSocket != "/srv/rr/c.sock" || sc.HistoryFile != "/tmp/h/history.jsonl" || sc.MetricsListen != "127.0.0.1:9321" {
			t.Errorf("have %+v", sc)
		}
	}
	if _, err := Parse("/x/r.toml", []byte("[supervisor]\nstate_dir = \"${RR_UNSET}\"\n[[child]]\nname = \"a\"\ncommand = [\"a\"]\n")); err == nil || !strings.Contains(err.Error(), "supervisor.state_dir") {
		t.Errorf("an unset variable without default: %v", err)
	}
}
