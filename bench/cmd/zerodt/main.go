//go:build linux

// Command zerodt measures restarts under load: an HTTP server supervised
// by resreap takes a constant rate of requests while it is restarted
// every few seconds, by `resreap restart`, by `resreap reload` (a changed
// env) or by a health verdict (a CLOSE_WAIT leak); each case is run with
// restart_mode = "surge" and resreap holding the socket, and beside it
// with a stop-then-start restart of the same server binding its own
// socket, in the same run. It writes the table into bench/results.md
// (between its markers, replacing an earlier one) and prints it.
//
//	go run ./bench/cmd/zerodt -resreap bin/resreap -child bin/benchchild [-nginx /usr/sbin/nginx]
//
// The load generator is this program's own (load.go), not vegeta's
// library: vegeta/v12 brings a dozen modules into go.mod for what is here
// a hundred lines. It is open-loop: request i is due at start + i/rate
// whatever happened to the others, and its latency counts from then, so a
// stall shows up in the latencies instead of slowing the load down.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// restartCase is one row pair of the table.
type restartCase struct {
	name      string
	how       string // "restart", "reload", "health"; "none": the reference run
	rate      int
	keepAlive bool
	nginx     bool
}

func main() {
	resreap := flag.String("resreap", "bin/resreap", "resreap `binary`")
	child := flag.String("child", "bin/benchchild", "benchchild `binary`")
	nginx := flag.String("nginx", "", "nginx `binary` for the nginx rows (default: nginx in PATH, if any)")
	duration := flag.Duration("duration", 30*time.Second, "load `duration` of each run")
	every := flag.Duration("every", 5*time.Second, "restart `interval`")
	out := flag.String("out", "bench/results.md", "write the table into this `file`")
	flag.Parse()
	if *nginx == "" {
		*nginx, _ = exec.LookPath("nginx")
	}
	for _, p := range []*string{resreap, child} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fail(err)
		}
		*p = abs
	}
	cases := []restartCase{
		{"no restart (reference), 500 req/s, keep-alive", "none", 500, true, false},
		{"`resreap restart`, 500 req/s, keep-alive", "restart", 500, true, false},
		{"`resreap reload` (env changed), 500 req/s, keep-alive", "reload", 500, true, false},
		{"health verdict (CLOSE_WAIT leak), 500 req/s, keep-alive", "health", 500, true, false},
		{"no restart (reference), 100 req/s, a new connection per request", "none", 100, false, false},
		{"`resreap restart`, 100 req/s, a new connection per request", "restart", 100, false, false},
	}
	if *nginx != "" {
		cases = append(cases, restartCase{"nginx, no restart (reference), 500 req/s, keep-alive", "none", 500, true, true},
			restartCase{"nginx, `resreap restart`, 500 req/s, keep-alive", "restart", 500, true, true})
	}
	var rows []string
	began, loadBefore := time.Now(), loadavg()
	for _, c := range cases {
		modes := []bool{false, true}
		if c.how == "none" {
			modes = []bool{true} // the same server on the held socket, left alone
		}
		for _, surge := range modes {
			r := bench{resreap: *resreap, child: *child, nginx: *nginx, c: c, surge: surge, duration: *duration, every: *every}
			res, err := r.run()
			if err != nil {
				fail(fmt.Errorf("%s: %w", c.name, err))
			}
			mode := "stop-start, the server binds"
			switch {
			case c.how == "none":
				mode = "none (resreap holds the socket)"
			case surge:
				mode = "**surge, resreap holds the socket**"
			}
			row := fmt.Sprintf("| %s | %s | %d | %d | %d | %s | %s | %d |", c.name, mode, res.restarts, res.sent, res.failed,
				ms(res.p99), ms(res.max), res.refused.Milliseconds())
			fmt.Println(row)
			rows = append(rows, row)
		}
	}
	table := fmt.Sprintf(`%s
## Restarts under load (zero downtime)

Written by `+"`make bench`"+` (`+"`bench/cmd/zerodt`"+`) on %s in %s; load average (1, 5, 15 min) %s at start, %s at the end: the machine is shared, and latencies move with what else runs on it (failures and refusals do not). Each run: %s of constant load from this program's open-loop client (latency from each request's due time), a restart every %s; the server (`+"`benchchild serve`"+`, Go's net/http, drains on TERM; or stock nginx %s with QUIT) is restarted by resreap as said. "stop-start" is restart_mode = "stop-start" with the server binding its own port; "surge" is restart_mode = "surge" with `+"`listen`"+` (resreap holds the socket, the new generation is ready on READY=1, or for nginx after start_seconds = 500ms, before the old one gets its stop signal). "no restart" rows are the same load on the same server with nothing restarted, the reference for p99. Refused: the milliseconds during which connections were refused (ECONNREFUSED), summed over the run. Latencies are of the requests that succeeded.

| case | restart | restarts | requests | failed | p99 | max | refused, ms |
|---|---|---:|---:|---:|---:|---:|---:|
%s
%s
`, beginMarker, time.Now().UTC().Format("2006-01-02 15:04 UTC"), time.Since(began).Round(time.Second), loadBefore, loadavg(), *duration, *every, nginxVersion(*nginx), strings.Join(rows, "\n"), endMarker)
	if err := writeSection(*out, table); err != nil {
		fail(err)
	}
}

const (
	beginMarker = "<!-- zerodt: begin -->"
	endMarker   = "<!-- zerodt: end -->"
)

// writeSection puts section into path in place of the one between the
// markers, or at its end.
func writeSection(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	i, j := bytes.Index(old, []byte(beginMarker)), bytes.Index(old, []byte(endMarker))
	var b bytes.Buffer
	if i >= 0 && j > i {
		b.Write(old[:i])
		b.WriteString(section)
		b.Write(bytes.TrimLeft(old[j+len(endMarker):], "\n"))
	} else {
		b.Write(old)
		if len(old) > 0 {
			b.WriteString("\n")
		}
		b.WriteString(section)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func nginxVersion(path string) string {
	if path == "" {
		return "(not installed: no nginx rows)"
	}
	out, _ := exec.Command(path, "-v").CombinedOutput()
	return strings.TrimSpace(strings.TrimPrefix(string(out), "nginx version: "))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "zerodt:", err)
	os.Exit(1)
}

// freeAddr is a loopback address nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// bench is one run: one case in one restart mode.
type bench struct {
	resreap, child, nginx string
	c                     restartCase
	surge                 bool
	duration, every       time.Duration
	dir, cfg, addr        string
	skipped               int // health rounds that found the server down
}

func (b *bench) run() (result, error) {
	var err error
	if b.dir, err = os.MkdirTemp("", "zerodt"); err != nil {
		return result{}, err
	}
	defer os.RemoveAll(b.dir)
	if b.addr, err = freeAddr(); err != nil {
		return result{}, err
	}
	b.cfg = filepath.Join(b.dir, "resreap.toml")
	if err := b.writeConfig(0); err != nil {
		return result{}, err
	}
	cmd := exec.Command(b.resreap, "run", "-c", b.cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // waited for below
		cmd.Wait()                          //nolint:errcheck // its log is only for a failure
	}()
	if err := b.waitServing(); err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, logs.String())
	}
	l := newLoad(b.addr, b.c.rate, b.c.keepAlive)
	done := l.start(b.duration)
	restarts := 0
	tick := time.NewTicker(b.every)
	defer tick.Stop()
	for wait := true; wait; {
		select {
		case <-done:
			wait = false
		case <-tick.C:
			if b.c.how == "none" {
				continue
			}
			restarts++
			if err := b.restart(restarts); err != nil {
				return result{}, fmt.Errorf("restart %d: %w\n%s", restarts, err, logs.String())
			}
		}
	}
	res := l.result()
	res.restarts = restarts - b.skipped
	return res, nil
}

// restart restarts the server the case's way.
func (b *bench) restart(round int) error {
	switch b.c.how {
	case "reload":
		if err := b.writeConfig(round); err != nil {
			return err
		}
		return b.ctl("reload", "-c", b.cfg)
	case "health":
		// A stop-start server may be down in its backoff (which doubles
		// with each health restart): then there is nothing to leak on
		// this time, and that outage is what the row shows.
		if err := leak(b.addr, 3); err != nil {
			b.skipped++
		}
		return nil
	}
	return b.ctl("restart", "-c", b.cfg, "web")
}

func (b *bench) ctl(args ...string) error {
	out, err := exec.Command(b.resreap, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("resreap %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// waitServing waits until the server answers.
func (b *bench) waitServing() error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", b.addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s does not answer", b.addr)
}

// leak makes n connections to /hold and leaves them: n CLOSE_WAIT sockets
// in the server, which the health check judges.
func leak(addr string, n int) error {
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		fmt.Fprintf(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck // a conn supports deadlines
		buf := make([]byte, 64)
		_, err = c.Read(buf)
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes the run's configuration; round changes the env, so
// that a reload restarts the server.
func (b *bench) writeConfig(round int) error {
	var child string
	switch {
	case b.c.nginx:
		child = b.nginxChild()
	case b.surge:
		child = fmt.Sprintf(`command = [%q, "serve"]
listen = [{ name = "http", address = %q }]
restart_mode = "surge"
ready = { notify = true }
`, b.child, b.addr)
	default:
		child = fmt.Sprintf("command = [%q, \"serve\", \"-addr\", %q]\n", b.child, b.addr)
	}
	health := ""
	if b.c.how == "health" {
		health = "health = { interval = \"500ms\", close_wait = { threshold = 2, persist = 2 }, veto_cooldown = \"1ms\" }\n"
	}
	cfg := fmt.Sprintf(`[supervisor]
state_dir = %[1]q
control_socket = %[2]q
history_file = %[3]q

[[child]]
name = "web"
env = { ROUND = "%[4]d" }
stop = { signals = [%[5]q], wait = "20s" }
%[6]s%[7]s`, b.dir, filepath.Join(b.dir, "control.sock"), filepath.Join(b.dir, "history.jsonl"), round, b.stopSignal(), child, health)
	return os.WriteFile(b.cfg, []byte(cfg), 0o644)
}

func (b *bench) stopSignal() string {
	if b.c.nginx {
		return "QUIT"
	}
	return "TERM"
}

// nginxChild is stock nginx serving "ok": with the socket resreap holds
// (pass = "nginx") when surging, else binding it itself.
func (b *bench) nginxChild() string {
	conf := filepath.Join(b.dir, "nginx.conf")
	text := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		location / { return 200 "ok\n"; }
	}
}
`, b.dir, b.addr)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		fail(err)
	}
	child := fmt.Sprintf("command = [%q, \"-e\", \"stderr\", \"-p\", %q, \"-c\", %q]\nstart_seconds = \"500ms\"\n", b.nginx, b.dir, conf)
	if b.surge {
		child += fmt.Sprintf("listen = [{ name = \"http\", address = %q }]\npass = \"nginx\"\nrestart_mode = \"surge\"\n", b.addr)
	}
	return child
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}
