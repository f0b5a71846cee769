//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/signame"
)

const demoExamples = `  resreap demo backend --listen 127.0.0.1:9322 --delay 3s
  resreap demo fe-server --backend 127.0.0.1:9322 --leak-after 2s --ignore TERM
the children of configs/demo.toml (make run) run these.
`

const (
	demoBackendUsage = "resreap demo backend [--listen ADDR] [--delay D]"
	demoFEUsage      = "resreap demo fe-server [--backend ADDR] [--leak-after 2s] [--leak-every 500ms] [--ignore TERM,...]"
	demoUsage        = demoBackendUsage + "\n       " + demoFEUsage
)

// demoBackendFlagValues are the flags of "resreap demo backend".
type demoBackendFlagValues struct {
	listen string
	delay  time.Duration
}

func demoBackendFlags() (*pflag.FlagSet, *demoBackendFlagValues) {
	var v demoBackendFlagValues
	fs := newFlagSet("demo backend")
	fs.StringVar(&v.listen, "listen", "127.0.0.1:9322", "address to listen on")
	fs.DurationVar(&v.delay, "delay", 3*time.Second, "start-up time before it listens")
	return fs, &v
}

// demoFEFlagValues are the flags of "resreap demo fe-server".
type demoFEFlagValues struct {
	backend              string
	leakAfter, leakEvery time.Duration
	ignore               []string
}

func demoFEFlags() (*pflag.FlagSet, *demoFEFlagValues) {
	var v demoFEFlagValues
	fs := newFlagSet("demo fe-server")
	fs.StringVar(&v.backend, "backend", "", "backend address (default: one of its own)")
	fs.DurationVar(&v.leakAfter, "leak-after", 2*time.Second, "run cleanly this long before leaking")
	fs.DurationVar(&v.leakEvery, "leak-every", 500*time.Millisecond, "leak one CLOSE_WAIT connection this often")
	fs.StringSliceVar(&v.ignore, "ignore", nil, "signals to ignore (QUIT always prints a fake thread dump)")
	return fs, &v
}

// runDemo runs the demo children of configs/demo.toml.
//
//	resreap demo backend     a backend that takes a while to listen, then
//	                         closes every connection at once, as a peer that
//	                         timed out does
//	resreap demo fe-server   a front end whose "network library" leaks its
//	                         connections to the backend in CLOSE_WAIT, and
//	                         that is slow to die
func runDemo(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "fe-server" && args[0] != "backend") {
		fs := newFlagSet("demo")
		if exit, ok := parseArgs(fs, args, demoUsage, demoExamples, stdout, stderr); !ok {
			return exit
		}
		fmt.Fprintln(stderr, "usage:", demoUsage)
		return 2
	}
	if args[0] == "backend" {
		fs, v := demoBackendFlags()
		if exit, ok := parseArgs(fs, args[1:], demoBackendUsage, demoExamples, stdout, stderr); !ok {
			return exit
		}
		return demoBackend(v.listen, v.delay, stdout, stderr)
	}
	fs, v := demoFEFlags()
	if exit, ok := parseArgs(fs, args[1:], demoFEUsage, demoExamples, stdout, stderr); !ok {
		return exit
	}
	addr := v.backend
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "fe-server:", err)
			return 1
		}
		go closeEach(ln)
		addr = ln.Addr().String()
	}
	return demoFEServer(addr, v.leakAfter, v.leakEvery, v.ignore, stdout, stderr)
}

// demoBackend sleeps delay (warming a cache, say), then listens on addr
// and closes every connection at once until TERM or INT.
func demoBackend(addr string, delay time.Duration, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	fmt.Fprintf(stdout, "backend pid %d warming up for %s\n", os.Getpid(), delay)
	select {
	case <-time.After(delay):
	case <-sigs:
		return 0
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(stderr, "backend:", err)
		return 1
	}
	go closeEach(ln)
	fmt.Fprintf(stdout, "backend listening on %s\n", ln.Addr())
	<-sigs
	return 0
}

// closeEach accepts connections on ln and closes each at once, like a
// peer that timed out: a client that keeps its end open afterwards holds
// a socket in CLOSE_WAIT.
func closeEach(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func demoFEServer(backend string, leakAfter, leakEvery time.Duration, ignore []string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGQUIT, unix.SIGTERM, unix.SIGINT)
	ignored := map[string]bool{}
	for _, s := range ignore {
		if sig, err := signame.Parse(s); err == nil {
			ignored[signame.Name(sig)] = true
		}
	}
	fmt.Fprintf(stdout, "fe-server pid %d up; backend at %s; leaking from %s on (ignoring %s)\n",
		os.Getpid(), backend, leakAfter, strings.Join(ignore, ","))
	var leaked []net.Conn
	start := time.Now()
	tick := time.NewTicker(leakEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if time.Since(start) < leakAfter {
				continue
			}
			c, err := net.Dial("tcp", backend)
			if err != nil {
				fmt.Fprintln(stderr, "fe-server: dial:", err)
				continue
			}
			leaked = append(leaked, c) // never closed: the bug
			if len(leaked)%4 == 1 {
				fmt.Fprintf(stdout, "fe-server: %d connection(s) left open by the backend client\n", len(leaked))
			}
		case sig := <-sigs:
			name := signame.Name(sig.(unix.Signal))
			switch {
			case name == "QUIT":
				fmt.Fprintf(stdout, "fe-server: SIGQUIT: thread dump: 1 goroutine leaking, %s held\n", count(len(leaked), "socket", "sockets"))
			case ignored[name]:
				fmt.Fprintf(stdout, "fe-server: SIG%s ignored (stuck in the network library)\n", name)
			default:
				fmt.Fprintf(stdout, "fe-server: SIG%s: shutting down\n", name)
				return 0
			}
		}
	}
}
