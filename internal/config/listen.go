//go:build linux

package config

import (
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ListenSpec is one listening socket resreap binds for a child and keeps
// through its restarts (see the README's "Restarts without downtime").
type ListenSpec struct {
	// Name is what the child is told the socket is (LISTEN_FDNAMES).
	Name string
	// Address is "host:port" with a numeric host (":port": every IPv4
	// address), or "unix:/path" for a unix stream socket. {instance}
	// gives each copy of a child its own socket; without it the copies
	// share one.
	Address string
	// Backlog is the accept queue: the connections that wait while no
	// generation accepts (a crash, a stop-start restart).
	Backlog int
}

// Unix reports whether the socket is a unix socket, and its path.
func (l ListenSpec) Unix() (path string, ok bool) { return strings.CutPrefix(l.Address, unixPrefix) }

// unixPrefix marks a unix socket's address.
const unixPrefix = "unix:"

// Values of pass: how the listening sockets are handed to the child.
const (
	// PassSystemd is systemd's socket activation: fds 3... with
	// LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (coreos/go-systemd's
	// activation, Python's socket.fromfd, sd_listen_fds).
	PassSystemd = "systemd"
	// PassNginx is nginx's own inheritance: fds 3... with NGINX="3;4;".
	PassNginx = "nginx"
)

// Values of restart_mode.
const (
	// RestartStopStart stops the old process, then starts the new one.
	RestartStopStart = "stop-start"
	// RestartSurge starts the new generation beside the old one, waits
	// until it is ready, then stops the old one: with resreap holding the
	// sockets, no connection is refused.
	RestartSurge = "surge"
)

// Templates a ready probe's address may hold, expanded at each probe:
// the PID and the generation of the process probed, so that a probe
// during a surge reaches the new generation, not the old one that still
// answers on the shared port.
const (
	TmplPID        = "{pid}"
	TmplGeneration = "{generation}"
)

// GenerationVar is set in each child's environment to the number of its
// generation (its start), which {generation} in a probe stands for.
const GenerationVar = "RESREAP_GENERATION"

var (
	// listen.backlog: 1..65535, default 1024. The kernel caps it at
	// net.core.somaxconn (4096 on Linux 5.4 and later); 1024 holds a
	// restart's worth of connections at thousands per second.
	rangeBacklog   = numRange{min: 1, max: 65535}
	defaultBacklog = 1024
	// The crash backoff of a child with listen when backoff.initial is
	// not set: 100ms instead of 1s. While the socket is held, clients
	// of a crashed child wait in the backlog instead of being refused, so
	// every millisecond before the next start is latency they see; the
	// doubling up to backoff.max still slows a crash loop down.
	listenCrashBackoff = 100 * time.Millisecond
)

type fileListen struct {
	Name    *string `toml:"name"`
	Address *string `toml:"address"`
	Path    *string `toml:"path"`
	Backlog *int    `toml:"backlog"`
}

// listen validates listen, pass, restart_mode and pid_file.
func (v *validator) listen(key string, f *fileChild, c *ChildSpec) {
	names := map[string]bool{}
	for i, fl := range f.Listen {
		k := key + ".listen." + strconv.Itoa(i)
		l := ListenSpec{Name: strOr(fl.Name, ""), Backlog: defaultBacklog}
		switch {
		case fl.Address != nil && fl.Path != nil:
			v.add(k, "give address or path, not both")
		case fl.Path != nil:
			l.Address = unixPrefix + relTo(v.base, v.expand(k+".path", *fl.Path))
		case fl.Address != nil:
			l.Address = v.expand(k+".address", *fl.Address)
		default:
			v.add(k, "needs an address (\"127.0.0.1:8080\", \"unix:/run/app.sock\") or a path")
		}
		if l.Name == "" {
			l.Name = "listen" + strconv.Itoa(i)
		}
		// LISTEN_FDNAMES separates names with ':'; nginx's NGINX with ';'.
		if strings.ContainsAny(l.Name, ":; \t\n\x00") || len(l.Name) > 255 {
			v.add(k+".name", "%q: a socket's name has no ':', ';' or white space, and at most 255 bytes", l.Name)
		}
		if names[l.Name] {
			v.add(k+".name", "duplicate socket name %q", l.Name)
		}
		names[l.Name] = true
		intIn(v, k+".backlog", fl.Backlog, &l.Backlog, rangeBacklog)
		c.Listen = append(c.Listen, l)
	}
	if f.Pass != nil {
		c.Pass = *f.Pass
		if c.Pass != PassSystemd && c.Pass != PassNginx {
			v.add(key+".pass", "must be %q or %q, not %q", PassSystemd, PassNginx, c.Pass)
		}
	}
	if f.RestartMode != nil {
		c.RestartMode = *f.RestartMode
		if c.RestartMode != RestartStopStart && c.RestartMode != RestartSurge {
			v.add(key+".restart_mode", "must be %q or %q, not %q", RestartStopStart, RestartSurge, c.RestartMode)
		}
	}
	if f.PidFile != nil {
		c.PidFile = relTo(v.base, v.expand(key+".pid_file", *f.PidFile))
	}
	if len(c.Listen) > 0 && (f.Backoff == nil || f.Backoff.Initial == nil) {
		c.Backoff.Initial = listenCrashBackoff
	}
}

// checkListen checks the addresses of c's sockets, once templates are
// expanded, and that a surge child's readiness can tell generations
// apart.
func (v *validator) checkListen(key string, c *ChildSpec) {
	for i, l := range c.Listen {
		k := key + ".listen." + strconv.Itoa(i)
		if path, ok := l.Unix(); ok {
			switch {
			case !filepath.IsAbs(path):
				v.add(k+".address", "a unix socket's path must be absolute, not %q", path)
			case len(path) > 107:
				v.add(k+".address", "a unix socket's path has at most 107 bytes, not %d", len(path))
			}
			continue
		}
		if msg := tcpAddressProblem(l.Address); msg != "" {
			v.add(k+".address", "%s", msg)
		}
	}
	if c.RestartMode != RestartSurge {
		return
	}
	r := c.Ready
	for _, p := range []string{r.TCP, r.HTTP} {
		if p != "" && !strings.Contains(p, TmplPID) && !strings.Contains(p, TmplGeneration) {
			v.add(key+".ready", "restart_mode = %q: a %s probe of a shared address is answered by the old generation; use ready = { notify = true }, an exec probe, or %s / %s in the address",
				RestartSurge, strings.Fields(r.String())[0], TmplPID, TmplGeneration)
		}
	}
}

// tcpAddressProblem says what is wrong with a TCP listen address, "" when
// nothing is.
func tcpAddressProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "want host:port with a numeric host, or unix:/path, not " + strconv.Quote(addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "port " + strconv.Quote(port) + " is not a number from 1 to 65535 (a socket resreap holds has a fixed port)"
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return "host " + strconv.Quote(host) + " is not a numeric address (resreap binds before any name service is up)"
		}
	}
	return ""
}

// Surge reports whether a restart of the child starts the new generation
// before it stops the old one.
func (c *ChildSpec) Surge() bool { return c.RestartMode == RestartSurge }
