//go:build linux

package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// listen, pass, restart_mode, pid_file, ready.notify and max_surge as a
// file gives them, with their defaults; {instance} gives each copy its
// own socket.
func TestListen(t *testing.T) {
	cfg, err := Parse("/etc/x.toml", []byte(`
[[child]]
name = "web"
command = ["x"]
instances = 2
listen = [
  { name = "http", address = "127.0.0.1:80{instance}0", backlog = 64 },
  { address = "[::1]:9000" },
  { name = "admin", path = "/run/web-{instance}.sock" },
]
pass = "nginx"
restart_mode = "surge"
ready = { notify = true }
pid_file = "web.pid"

[[child]]
name = "api"
command = ["x"]
listen = [{ address = ":8081" }]
backoff = { initial = "2s" }

[[child]]
name = "plain"
command = ["x"]

[[group]]
name = "g"
members = ["web"]
max_surge = 2
`))
	if err != nil {
		t.Fatal(err)
	}
	web1, api, plain := cfg.Child("web.1"), cfg.Child("api"), cfg.Child("plain")
	want := []ListenSpec{{"http", "127.0.0.1:8010", 64}, {"listen1", "[::1]:9000", 1024}, {"admin", "unix:/run/web-1.sock", 1024}}
	if !slices.Equal(web1.Listen, want) {
		t.Errorf("web.1 listen %+v, want %+v", web1.Listen, want)
	}
	if path, ok := web1.Listen[2].Unix(); !ok || path != "/run/web-1.sock" {
		t.Errorf("Unix() = %q, %v", path, ok)
	}
	if web1.Pass != PassNginx || !web1.Surge() || !web1.Ready.Notify || !web1.Ready.Enabled() || web1.PidFile != "/etc/web.pid" {
		t.Errorf("web.1: pass %q, mode %q, ready %+v, pid_file %q", web1.Pass, web1.RestartMode, web1.Ready, web1.PidFile)
	}
	if web1.Backoff.Initial != listenCrashBackoff || api.Backoff.Initial != 2*time.Second || plain.Backoff.Initial != time.Second {
		t.Errorf("backoff.initial: web %s (listen, unset), api %s (set), plain %s", web1.Backoff.Initial, api.Backoff.Initial, plain.Backoff.Initial)
	}
	if plain.Pass != PassSystemd || plain.RestartMode != RestartStopStart || plain.Surge() || len(plain.Listen) != 0 {
		t.Errorf("plain: pass %q, restart_mode %q, listen %v", plain.Pass, plain.RestartMode, plain.Listen)
	}
	if g := cfg.Groups[0]; g.MaxSurge != 2 {
		t.Errorf("max_surge %d, want 2", g.MaxSurge)
	}
}

func TestListenProblems(t *testing.T) {
	const head = "[[child]]\nname = \"a\"\ncommand = [\"x\"]\n"
	for _, tc := range []struct{ src, want string }{
		{head + `listen = [{ address = "localhost:80" }]`, `x.toml:4: child[a].listen[0].address: host "localhost" is not a numeric address`},
		{head + `listen = [{ address = "127.0.0.1:0" }]`, `child[a].listen[0].address: port "0" is not a number from 1 to 65535`},
		{head + `listen = [{ address = "8080" }]`, `child[a].listen[0].address: want host:port`},
		{head + `listen = [{ name = "a:b", address = ":80" }]`, `child[a].listen[0].name: "a:b": a socket's name has no ':'`},
		{head + `listen = [{ name = "h", address = ":80" }, { name = "h", address = ":81" }]`, `child[a].listen[1].name: duplicate socket name "h"`},
		{head + `listen = [{ address = ":80", path = "/x" }]`, `child[a].listen[0]: give address or path, not both`},
		{head + `listen = [{ name = "h" }]`, `child[a].listen[0]: needs an address`},
		{head + `listen = [{ address = ":80", backlog = 0 }]`, `child[a].listen[0].backlog: 0 is out of range: must be between 1 and 65535`},
		{head + `listen = [{ address = "unix:run/x.sock" }]`, `a unix socket's path must be absolute`},
		{head + `pass = "inetd"`, `x.toml:4: child[a].pass: must be "systemd" or "nginx", not "inetd"`},
		{head + `restart_mode = "blue-green"`, `child[a].restart_mode: must be "stop-start" or "surge"`},
		{head + "restart_mode = \"surge\"\nready = { tcp = \"127.0.0.1:80\" }", `child[a].ready: restart_mode = "surge": a tcp probe of a shared address is answered by the old generation`},
		{head + "ready = { notify = true, exec = [\"x\"] }", `child[a].ready: give exactly one of tcp, http, exec and notify = true`},
		{head + "ready = { notify = true }\nliveness = { failures = 3 }", `child[a].liveness: needs a ready probe to run (tcp, http or exec)`},
		{head + "[[group]]\nname = \"g\"\nmembers = [\"a\"]\nmax_surge = 0", `group[0].max_surge: 0 is out of range`},
	} {
		_, err := Parse("x.toml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nerror %v\nwant %q", tc.src, err, tc.want)
		}
	}
	// A probe aimed at one generation is fine for a surge child.
	for _, ready := range []string{`{ http = "http://127.0.0.1:{pid}/health" }`, `{ tcp = "127.0.0.1:9{generation}" }`, `{ notify = true }`, `{ exec = ["true"] }`} {
		src := head + "restart_mode = \"surge\"\nlisten = [{ address = \"127.0.0.1:8080\" }]\nready = " + ready + "\n"
		if _, err := Parse("x.toml", []byte(src)); err != nil {
			t.Errorf("ready = %s: %v", ready, err)
		}
	}
}
