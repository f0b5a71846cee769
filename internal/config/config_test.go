//go:build linux

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseConfigGood(t *testing.T) {
	src := `
[supervisor]
history_file = "state/history.jsonl"
history_max_size = "10MB"
control_socket = "/run/x/control.sock"

[defaults]
restart = "on-failure"
backoff = { initial = "2s", max = "1m" }
stop = { signals = ["QUIT", "SIGTERM"], wait = ["5s", "2s"] }
env = { A = "1", B = "1" }

[defaults.health]
interval = "3s"
close_wait = { threshold = 3, ignore_foreign = ["10.0.0.5:8080", ":6379", "[::1]:9000", "192.168.0.0/16"] }

[[child]]
name = "db"
command = ["/usr/bin/db"]

[[child]]
name = "fe"
command = ["/opt/fe", "--port", "8010"]
dir = "fe"
env = { B = "2" }
backoff = { max = "10s" }
depends_on = ["db"]
rlimit_nofile = 4096
stop = { signals = ["TERM"], wait = "1s" }
health.fds = { max_open = 1000, enabled = true }
`
	cfg, err := Parse("/etc/resreap/r.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Supervisor.HistoryFile != "/etc/resreap/state/history.jsonl" || cfg.Supervisor.HistoryMaxSize != 10<<20 {
		t.Errorf("supervisor %+v", cfg.Supervisor)
	}
	db, fe := cfg.Children[0], cfg.Children[1]
	if db.Restart != RestartOnFailure || db.Backoff.Initial != 2*time.Second || db.Backoff.Multiplier != 2 {
		t.Errorf("db inherits defaults: %+v", db)
	}
	if len(db.Stop.Steps) != 2 || db.Stop.Steps[0] != (StopStep{unix.SIGQUIT, 5 * time.Second}) || db.Stop.Steps[1] != (StopStep{unix.SIGTERM, 2 * time.Second}) {
		t.Errorf("db stop %+v", db.Stop)
	}
	if fe.Backoff.Initial != 2*time.Second || fe.Backoff.Max != 10*time.Second {
		t.Errorf("fe backoff merges key by key: %+v", fe.Backoff)
	}
	if fe.Env["A"] != "1" || fe.Env["B"] != "2" || fe.Dir != "/etc/resreap/fe" || fe.RlimitNofile != 4096 {
		t.Errorf("fe %+v", fe)
	}
	if fe.Health.Interval != 3*time.Second || fe.Health.Policy.CloseWait.Threshold != 3 || fe.Health.Policy.FDs.MaxOpen != 1000 || fe.Health.Policy.FDs.MaxRatio != 0.9 || len(fe.Health.Policy.CloseWait.Ignore) != 4 {
		t.Errorf("fe health %+v", fe.Health)
	}
	if len(fe.Stop.Steps) != 1 || fe.Stop.Steps[0].Wait != time.Second {
		t.Errorf("fe stop %+v", fe.Stop)
	}
}

// Every problem in a file is reported, each with its line and key.
func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each must appear in the error
	}{
		{"unknown key", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\ncomand = [\"y\"]\n", []string{"x.toml:4: child[a].comand: unknown key"}},
		{"unknown key in a nested inline table", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nhealth = { interval = \"2s\", close_wait = { threshold = 2, persit = 2 } }\n",
			[]string{"x.toml:4: child[a].health.close_wait.persit: unknown key"}},
		{"unknown table key", "[supervisor]\nhistory = \"x\"\n[[child]]\nname = \"a\"\ncommand = [\"x\"]\n", []string{"x.toml:2: supervisor.history: unknown key"}},
		{"duplicate and empty names", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\n[[child]]\nname = \"a\"\ncommand = [\"x\"]\n[[child]]\ncommand = [\"x\"]\n",
			[]string{"x.toml:5: child[a].name: duplicate name \"a\"", "x.toml:7: child[2].name: missing or empty name"}},
		{"empty command", "[[child]]\nname = \"a\"\ncommand = []\n", []string{"x.toml:3: child[a].command: missing or empty command"}},
		{"unknown signal", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nstop = { signals = [\"TREM\"] }\n", []string{"x.toml:4: child[a].stop.signals: unknown signal \"TREM\""}},
		{"bad durations", "[defaults]\nstart_seconds = \"-1s\"\n[[child]]\nname = \"a\"\ncommand = [\"x\"]\nbackoff = { initial = \"soon\" }\nhealth.interval = \"0s\"\n",
			[]string{"x.toml:2: defaults.start_seconds: -1s is out of range: must be between 0s and 1h", "x.toml:6: child[a].backoff.initial: bad duration \"soon\"", "x.toml:7: child[a].health.interval: 0s is out of range: must be between 100ms and 1h"}},
		{"cycle", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\ndepends_on = [\"b\"]\n[[child]]\nname = \"b\"\ncommand = [\"x\"]\ndepends_on = [\"a\"]\n", []string{"dependency cycle: a -> b -> a"}},
		{"unknown dependency", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\ndepends_on = [\"zz\"]\n", []string{"x.toml:4: child[a].depends_on: unknown child \"zz\""}},
		{"bad restart", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nrestart = \"sometimes\"\n", []string{"x.toml:4: child[a].restart: must be always, on-failure or never"}},
		{"bad ignore entry", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\n[child.health]\nclose_wait = { ignore_foreign = [\"10.0.0.1:http\"] }\n", []string{"x.toml:5: child[a].health.close_wait.ignore_foreign"}},
		{"kill listed", "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nstop = { signals = [\"TERM\", \"KILL\"], wait = [\"1s\"] }\n",
			[]string{"child[a].stop.signals: KILL is always sent last", "child[a].stop.wait: has 1 durations for 2 signals"}},
		{"syntax error", "[[child]]\nname = \"a\ncommand = [\"x\"]\n", []string{"x.toml:2:"}},
		{"type error", "[[child]]\nname = \"a\"\ncommand = \"x\"\n", []string{"x.toml:3:"}},
		{"no children", "[supervisor]\n", []string{"no [[child]] defined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestBundledConfigsAreValid(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.toml")
	if len(files) == 0 {
		t.Fatal("no configs found")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// The configuration example of the README parses: the documentation
// shows keys that exist, with values in range. Its env_file names a file
// of the reader's host, so it is pointed at one here.
func TestReadmeExampleIsValid(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```toml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no toml block in README.md")
	}
	envFile := filepath.Join(t.TempDir(), "fe.env")
	if err := os.WriteFile(envFile, []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	example = strings.ReplaceAll(example, `"/etc/default/fe"`, strconv.Quote(envFile))
	t.Setenv("HOME", "/root")
	if _, err := Parse("README.md", []byte(example)); err != nil {
		t.Errorf("the README's example: %v", err)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

// A file broken elsewhere still leads the command line to the socket; a
// problem in [supervisor] itself is reported with its line.
func TestLoadSupervisorOfABrokenFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src, socket, problem string
	}{
		{"child not TOML", "[supervisor]\ncontrol_socket = \"/run/x.sock\"\n[supervisor.health]\nreader = \"proc\"\n\n[[child]]\nname = \"a\ncommand = [\n", "/run/x.sock", ""},
		{"default socket", "[[child]]\nname = \"a\ncommand = [\n", DefaultControlSocket, ""},
		{"broken supervisor", "[supervisor]\ncontrol_socket = \"/run/x.sock\nx = 1\n[[child]]\nname=\"a\"\n", "", "x.toml:2: "},
		{"misspelt key", "[supervisor]\ncontrol_sockett = \"/run/x.sock\"\n[[child]]\nname = \"a\ncommand = [\n", "", "x.toml:2: supervisor.control_sockett: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "x.toml")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			sc, err := LoadSupervisor(path)
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Errorf("LoadSupervisor: %v, want %q", err, tc.problem)
				}
				return
			}
			if err != nil || sc.ControlSocket != tc.socket {
				t.Errorf("LoadSupervisor = %q, %v; want %q", sc.ControlSocket, err, tc.socket)
			}
		})
	}
}

// A child without dir runs in the config file's directory, absolute, and
// so do the relative paths of the file, whatever resreap's own working
// directory is.
func TestDefaultDirIsTheConfigsDir(t *testing.T) {
	cfg, err := Parse("conf/x.toml", []byte("[supervisor]\nstate_dir = \"state\"\n[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\n[[child]]\nname = \"b\"\ncommand = [\"/bin/true\"]\ndir = \"sub\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	conf := filepath.Join(wd, "conf")
	if a, b := cfg.Children[0].Dir, cfg.Children[1].Dir; a != conf || b != filepath.Join(conf, "sub") {
		t.Errorf("dirs %q and %q, want %q and %q", a, b, conf, filepath.Join(conf, "sub"))
	}
	if cfg.Supervisor.StateDir != filepath.Join(conf, "state") {
		t.Errorf("state_dir %q", cfg.Supervisor.StateDir)
	}
}

// Problems come out in the same order at every run, though some are found
// by walking maps (an inline table of the output, env), and a bad file
// path is not reported missing too.
func TestParseProblemOrder(t *testing.T) {
	src := "[[child]]\nname = \"a\"\ncommand = [\"x\"]\n" +
		"stdout = { file = \"\", keep = 0, compress = 1, bogus = 2 }\n" +
		"env = { A = \"${RESREAP_TEST_UNSET_1}\", B = \"${RESREAP_TEST_UNSET_2}\", C = \"${RESREAP_TEST_UNSET_3}\" }\n"
	_, err := Parse("x.toml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	first := err.Error()
	if strings.Contains(first, "missing") {
		t.Errorf("an empty file path is also reported missing:\n%s", first)
	}
	for range 20 {
		if _, err := Parse("x.toml", []byte(src)); err.Error() != first {
			t.Fatalf("problems in another order:\n%s\nthen\n%s", first, err)
		}
	}
}

// A name is a safe alphabet, bounded: a child, a copy or a group named
// "..", "." or with ESC would put captures beside capture_dir, prune
// another child's, write {name} paths elsewhere, or paint the terminal of
// whoever reads `status`. Each bad name is one problem at its line, the
// key by index, the name quoted, no raw control byte in the message.
func TestNames(t *testing.T) {
	long := strings.Repeat("n", 300)
	for _, tc := range []struct {
		name string // as TOML writes it, inside quotes
		want string // "" for a good name
	}{
		{"fe-server", ""},
		{"fe_server.v2", ""},
		{"A1", ""},
		{"trailing.", ""},
		{strings.Repeat("x", 64), ""},
		{"", `x.toml:3: child[0].name: missing or empty name`},
		{".", `x.toml:3: child[0].name: name "." starts with '.'`},
		{"..", `x.toml:3: child[0].name: name ".." starts with '.'`},
		{".hidden", `x.toml:3: child[0].name: name ".hidden" starts with '.'`},
		{`\u001b[2J`, `x.toml:3: child[0].name: name "\x1b[2J" has '\x1b'`},
		{`a\u009bb`, `x.toml:3: child[0].name: name "a\u009bb" has '\u009b'`},
		{"a/b", `x.toml:3: child[0].name: name "a/b" has '/'`},
		{"../../etc", `x.toml:3: child[0].name: name "../../etc" starts with '.'`},
		{"a b", `x.toml:3: child[0].name: name "a b" has ' '`},
		{"caf\u00e9", `x.toml:3: child[0].name: name "café" has 'é'`},
		{"\u202eevil", `x.toml:3: child[0].name: name "\u202eevil" has '\u202e'`},
		{strings.Repeat("x", 65), `x.toml:3: child[0].name: name "xxxxxxxxxxxxxxxx"... is 65 bytes long, more than 64`},
		{long, `x.toml:3: child[0].name: name "nnnnnnnnnnnnnnnn"... is 300 bytes long, more than 64`},
	} {
		t.Run(tc.name[:min(len(tc.name), 20)], func(t *testing.T) {
			src := "[[child]]\ncommand = [\"/bin/true\"]\nname = \"" + tc.name + "\"\nrestart = \"sometimes\"\n"
			_, err := Parse("x.toml", []byte(src))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, line := range strings.Split(msg, "\n") {
				if strings.ContainsFunc(line, isControl) {
					t.Errorf("raw control character in %q", line)
				}
			}
			// The other problem of the child names it by name only
			// when the name is good.
			other := "child[" + tc.name + "].restart"
			if tc.want != "" {
				other = "child[0].restart"
			}
			if !strings.Contains(msg, "x.toml:4: "+other) {
				t.Errorf("problem of another key: have\n%s\nwant %q", msg, other)
			}
			if tc.want == "" {
				if strings.Contains(msg, ".name") {
					t.Errorf("good name refused:\n%s", msg)
				}
				return
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("have\n%s\nwant %q", msg, tc.want)
			}
		})
	}
}

// isControl reports a character a terminal would act on.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// The names of groups and the copies of a child with instances follow the
// same rules; a copy adds ".<n>" to a good name, so it stays good.
func TestNamesOfGroupsAndCopies(t *testing.T) {
	base := strings.Repeat("b", 64)
	children := "[[child]]\nname = \"" + base + "\"\ncommand = [\"/bin/true\"]\ninstances = 1000\n" +
		"[[child]]\nname = \"other\"\ncommand = [\"/bin/true\"]\n"
	groups := "[[group]]\nname = \"..\"\nmembers = [\"" + base + "\"]\n" +
		"[[group]]\nname = \"fe\\u001b\"\nmembers = [\"other\"]\n"
	_, err := Parse("x.toml", []byte(children+groups))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`x.toml:9: group[0].name: name ".." starts with '.'`, `x.toml:12: group[1].name: name "fe\x1b" has '\x1b'`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("have\n%v\nwant %q", err, want)
		}
	}
	if strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("want two problems, have\n%v", err)
	}
	cfg, err := Parse("x.toml", []byte(children))
	if err != nil {
		t.Fatal(err)
	}
	last := cfg.Children[999].Name
	if last != base+".999" {
		t.Fatalf("last copy %q", last)
	}
	// The leaf of its generation 2^63-1 is still a short file name.
	if leaf := "child-" + last + ".9223372036854775807"; len(leaf) > 100 {
		t.Errorf("cgroup leaf %d bytes long", len(leaf))
	}
}

// No accepted name leaves the directory it is joined to: a capture
// directory, a cgroup leaf, or {name} in an output file is one entry of
// its parent, whatever the name.
func TestNamesStayInTheirDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a", "a.", "a..b", "fe-server.2", "x_-.9", strings.Repeat("z", 64)} {
		src := "[[child]]\nname = \"" + name + "\"\ncommand = [\"/bin/true\"]\nstdout = { file = \"logs/{name}/out.log\" }\nstderr = { file = \"logs/x.{name}\" }\n"
		cfg, err := Parse(filepath.Join(dir, "x.toml"), []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		c := cfg.Children[0]
		logs := filepath.Join(dir, "logs")
		if have, want := c.Stdout.File, filepath.Join(logs, name, "out.log"); have != want || filepath.Dir(filepath.Dir(have)) != logs {
			t.Errorf("%q: stdout %s, want %s", name, have, want)
		}
		if have := c.Stderr.File; filepath.Dir(have) != logs {
			t.Errorf("%q: stderr %s leaves %s", name, have, logs)
		}
		caps := filepath.Join(c.Capture.Dir, c.Name)
		if filepath.Dir(caps) != c.Capture.Dir || filepath.Base(caps) != name {
			t.Errorf("%q: captures in %s, outside %s", name, caps, c.Capture.Dir)
		}
	}
}
