//go:build linux

package config

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

// trustDirs makes, in a root directory other users can enter, the places
// a hostile local user u could prepare for resreap: a directory u owns, a
// sticky world-writable one (as /tmp) and a root file u must never reach
// through resreap. It returns the base directory.
func trustDirs(t *testing.T, u testchild.User) (base, victim string) {
	t.Helper()
	base = t.TempDir()
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"user", "tmp", "root"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(base, "user"), u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(base, "tmp"), os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	victim = filepath.Join(base, "root", "secret")
	if err := os.WriteFile(victim, []byte("root secret line\nSECRET=hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return base, victim
}

// An env_file is read as root: through a link a user planted (in a
// sticky directory) or in a directory a user owns it is refused, with its
// key and line, and nothing of the file it names is shown or used.
func TestEnvFileRefusesPlantedLinks(t *testing.T) {
	u := testchild.NewUser(t)
	base, victim := trustDirs(t, u)
	u.Run(t, "ln", "-s", victim, filepath.Join(base, "tmp", "app.env"))
	u.Run(t, "ln", "-s", victim, filepath.Join(base, "user", "app.env"))
	for _, env := range []string{"tmp/app.env", "user/app.env"} {
		src := "[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\nenv_file = \"" + env + "\"\n"
		cfg, err := Parse(filepath.Join(base, "x.toml"), []byte(src))
		if err == nil {
			t.Errorf("%s: accepted, env %v", env, cfg.Children[0].Env)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "x.toml:4: child[a].env_file: ") || !strings.Contains(msg, "unsafe") && !strings.Contains(msg, "owned by") && !strings.Contains(msg, "symbolic link") {
			t.Errorf("%s: %s; want a refusal of an unsafe path at x.toml:4", env, msg)
		}
		if strings.Contains(msg, "secret") || strings.Contains(msg, "hunter2") {
			t.Errorf("%s: the refusal shows the root file: %s", env, msg)
		}
		t.Logf("%s: %s", env, msg)
	}
}

// The host checks report every path resreap would write as root where
// another user could have it write elsewhere: state_dir, history_file,
// the control socket's directory, a child's output files and capture_dir,
// each with its key and line. A child's files may be in its own user's
// directory, never another user's.
func TestCheckHostUnsafePaths(t *testing.T) {
	u := testchild.NewUser(t)
	other := testchild.NewUser(t)
	base, victim := trustDirs(t, u)
	u.Run(t, "ln", "-s", victim, filepath.Join(base, "tmp", "history.jsonl"))
	u.Run(t, "ln", "-s", victim, filepath.Join(base, "user", "out.log"))
	src := `[supervisor]
state_dir = "user/state"
history_file = "tmp/history.jsonl"
control_socket = "user/run/control.sock"

[[child]]
name = "a"
command = ["/bin/true"]
user = "` + other.Name + `"
stdout = { file = "user/a.log" }
capture = true
capture_dir = "user/caps"

[[child]]
name = "b"
command = ["/bin/true"]
user = "` + u.Name + `"
stdout = { file = "user/b.log" }
stderr = { file = "user/out.log" }
capture = true
capture_dir = "user/caps"
`
	cfg := parseT(t, base, src)
	have := problems(Host{}.Check(cfg), base)
	owned := "user: directory owned by " + u.Name + " (uid " + itoa(u.UID) + "); only root"
	want := []string{
		"x.toml:2: supervisor.state_dir: " + owned + " may own it",
		"x.toml:3: supervisor.history_file: tmp/history.jsonl: a symbolic link (owned by " + u.Name + " (uid " + itoa(u.UID) + ")); resreap does not follow links to the files it writes as root",
		"x.toml:4: supervisor.control_socket: " + owned + " may own it",
		"x.toml:10: child[a].stdout.file: " + owned + " or " + other.Name + " (uid " + itoa(other.UID) + ") may own it",
		"x.toml:12: child[a].capture_dir: " + owned + " or " + other.Name + " (uid " + itoa(other.UID) + ") may own it",
		"x.toml:19: child[b].stderr.file: user/out.log: a symbolic link (owned by " + u.Name + " (uid " + itoa(u.UID) + ")); resreap does not follow links to the files it writes as root",
	}
	if !slices.Equal(have, want) {
		t.Errorf("have\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
	// What run and reload refuse: the same, and only these.
	if have := problems(CheckPaths(cfg), base); !slices.Equal(have, want) {
		t.Errorf("CheckPaths: have\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
}

// Paths out of other users' reach pass, missing ones included (resreap
// makes them, root's), and so do a child's files in its own user's
// directory. Problems of the host that are not another user's hand are
// not CheckPaths's: a missing program, a history that is a FIFO (which
// Check names, and the writer refuses without blocking).
func TestCheckPathsSafe(t *testing.T) {
	u := testchild.NewUser(t)
	base, _ := trustDirs(t, u)
	if err := unix.Mkfifo(filepath.Join(base, "root", "history.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `[supervisor]
state_dir = "root/state"
history_file = "root/history.fifo"
control_socket = "tmp/control.sock"

[[child]]
name = "a"
command = ["/no/such/program"]
user = "` + u.Name + `"
stdout = { file = "user/logs/a.log" }
stderr = { file = "root/a.err" }
capture = true
`
	cfg := parseT(t, base, src)
	if err := CheckPaths(cfg); err != nil {
		t.Errorf("CheckPaths: %v", err)
	}
	have := problems(Host{}.Check(cfg), base)
	want := []string{
		"x.toml:3: supervisor.history_file: root/history.fifo is not a regular file (a FIFO): the history could not be written",
		"x.toml:8: child[a].command: program /no/such/program does not exist",
	}
	if !slices.Equal(have, want) {
		t.Errorf("Check: have\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
