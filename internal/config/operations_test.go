//go:build linux

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOperationsKeys(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "fe.env")
	if err := os.WriteFile(envFile, []byte("# the front end\nA=1\nexport B='two words'\nC=\"3\"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RESREAP_TEST_PORT", "8010")
	src := `
[supervisor]
metrics_listen = "127.0.0.1:9321"
health.source = "dump"

[[child]]
name = "fe"
command = ["/opt/fe", "--port=${RESREAP_TEST_PORT}", "--level=${RESREAP_TEST_UNSET:-info}", "$$HOME"]
env_file = "fe.env"
env = { C = "4", D = "${RESREAP_TEST_PORT}" }
ready = { tcp = "127.0.0.1:${RESREAP_TEST_PORT}", interval = "100ms" }
start_timeout = "30s"
liveness = { failures = 3 }
required = true
stdout = { file = "logs/fe.out", max_size = "10MB", keep = 2, compress = true }
stderr = { file = "logs/fe.err", owner = "www", group = "adm", mode = "0604" }
`
	cfg, err := Parse(filepath.Join(dir, "r.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Supervisor.MetricsListen != "127.0.0.1:9321" || cfg.Supervisor.HealthSource != "dump" {
		t.Errorf("metrics_listen %q health.source %q", cfg.Supervisor.MetricsListen, cfg.Supervisor.HealthSource)
	}
	c := cfg.Children[0]
	if strings.Join(c.Command, " ") != "/opt/fe --port=8010 --level=info $HOME" {
		t.Errorf("command %q", c.Command)
	}
	if c.Env["A"] != "1" || c.Env["B"] != "two words" || c.Env["C"] != "4" || c.Env["D"] != "8010" {
		t.Errorf("env %v: want the file's values, the table's on top, expanded", c.Env)
	}
	if c.Ready.TCP != "127.0.0.1:8010" || c.Ready.Interval != 100*time.Millisecond || c.Ready.Timeout != 2*time.Second {
		t.Errorf("ready %+v", c.Ready)
	}
	if c.StartTimeout != 30*time.Second || c.Liveness != (LivenessSpec{Failures: 3, Interval: 10 * time.Second}) || !c.Required {
		t.Errorf("start_timeout %s liveness %+v required %v", c.StartTimeout, c.Liveness, c.Required)
	}
	want := OutputSpec{Mode: OutputFile, File: filepath.Join(dir, "logs/fe.out"), MaxSize: 10 << 20, Keep: 2, Compress: true, FileMode: 0o640}
	wantErr := OutputSpec{Mode: OutputFile, File: filepath.Join(dir, "logs/fe.err"), MaxSize: 100 << 20, Keep: 5,
		Owner: "www", Group: "adm", FileMode: 0o604}
	if c.Stdout != want || c.Stderr != wantErr {
		t.Errorf("stdout %+v stderr %+v", c.Stdout, c.Stderr)
	}
	def := DefaultChild()
	if def.Stdout.Mode != OutputInherit || def.Ready.Enabled() || def.StartTimeout != time.Minute {
		t.Errorf("defaults: stdout %+v ready %+v start_timeout %s", def.Stdout, def.Ready, def.StartTimeout)
	}
}

func TestOperationsProblems(t *testing.T) {
	const head = "[[child]]\nname = \"a\"\ncommand = [\"x\"]\n"
	for _, tc := range []struct{ src, want string }{
		{head + "ready = { tcp = \"nope\" }\n", `x.toml:4: child[a].ready.tcp: want host:port, not "nope"`},
		{head + "ready = { tcp = \"a:1\", http = \"http://a/\" }\n", "x.toml:4: child[a].ready: give exactly one of tcp, http, exec and notify = true"},
		{head + "ready = { http = \"ftp://a/\" }\n", `child[a].ready.http: want an http:// or https:// URL`},
		{head + "liveness = { failures = 3 }\n", "x.toml:4: child[a].liveness: needs a ready probe to run"},
		{head + "stdout = \"tty\"\n", `x.toml:4: child[a].stdout: must be "inherit", "null" or { file = "..." }, not "tty"`},
		{head + "stdout = { max_size = \"1MB\" }\n", "child[a].stdout.file: missing"},
		{head + "stdout = { file = \"x\", keep = 1000 }\n", "child[a].stdout.keep: must be a whole number between 1 and 100"},
		{head + "stdout = { file = \"x\", keep = 0 }\n", "child[a].stdout.keep: must be a whole number between 1 and 100"},
		{head + "stdout = { file = \"x\", mode = 640 }\n", `x.toml:4: child[a].stdout.mode: must be an octal string such as "0640"`},
		{head + "stdout = { file = \"x\", mode = \"rw-r-----\" }\n", `child[a].stdout.mode: "rw-r-----" is not an octal mode such as "0640"`},
		{head + "stdout = { file = \"x\", mode = \"0755\" }\n", "child[a].stdout.mode: 0755 makes the file executable"},
		{head + "stdout = { file = \"x\", mode = \"0641\" }\n", "child[a].stdout.mode: 0641 makes the file executable"},
		{head + "stdout = { file = \"x\", mode = \"4640\" }\n", "child[a].stdout.mode: 4640 sets setuid, setgid or sticky bits (4000)"},
		{head + "stdout = { file = \"x\", mode = \"02640\" }\n", "child[a].stdout.mode: 02640 sets setuid, setgid or sticky bits (2000)"},
		{head + "stdout = { file = \"x\", mode = \"0666\" }\n", "child[a].stdout.mode: 0666 lets every user write the file"},
		{head + "stderr = { file = \"x\", owner = 0 }\n", "x.toml:4: child[a].stderr.owner: must be a user name or number, as a string"},
		{head + "stderr = { file = \"x\", group = \"\" }\n", "x.toml:4: child[a].stderr.group: must be a group name or number, as a string"},
		{head + "env_file = \"/nonexistent/env\"\n", "x.toml:4: child[a].env_file: /nonexistent/env: open /nonexistent: no such file or directory"},
		{"[[child]]\nname = \"a\"\ncommand = [\"${RESREAP_SURELY_UNSET}\"]\n", "x.toml:3: child[a].command: ${RESREAP_SURELY_UNSET} is not set in resreap's environment"},
		{"[supervisor]\nmetrics_listen = \"9321\"\n" + head, `x.toml:2: supervisor.metrics_listen: want host:port`},
		{"[supervisor]\nhealth.source = \"ebpf\"\n" + head, `supervisor.health.source: must be auto, bpf or dump, not "ebpf"`},
		{head + "start_timeout = \"0s\"\n", "child[a].start_timeout: 0s is out of range"},
	} {
		_, err := Parse("x.toml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nerror %v\nwant %q", tc.src, err, tc.want)
		}
	}
}
