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

const demoExamples = `  resreap demo fe-server --leak-after 2s --ignore TERM
the children of configs/demo.toml (make run) run this.
`

// runDemo runs the demo children of configs/demo.toml.
//
//	resreap demo fe-server   a front end whose "network library" leaks
//	                         connections in CLOSE_WAIT, and that is slow to die
func runDemo(args []string, stdout, stderr io.Writer) int {
	const demoUsage = "resreap demo fe-server [--leak-after 2s] [--leak-every 500ms] [--ignore TERM,...]"
	if len(args) == 0 || args[0] != "fe-server" {
		fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
		if exit, ok := parseArgs(fs, args, demoUsage, demoExamples, stdout, stderr); !ok {
			return exit
		}
		fmt.Fprintln(stderr, "usage:", demoUsage)
		return 2
	}
	fs := pflag.NewFlagSet("demo fe-server", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	leakAfter := fs.Duration("leak-after", 2*time.Second, "run cleanly this long before leaking")
	leakEvery := fs.Duration("leak-every", 500*time.Millisecond, "leak one CLOSE_WAIT connection this often")
	ignore := fs.StringSlice("ignore", nil, "signals to ignore (QUIT always prints a fake thread dump)")
	if exit, ok := parseArgs(fs, args[1:], demoUsage, demoExamples, stdout, stderr); !ok {
		return exit
	}
	return demoFEServer(*leakAfter, *leakEvery, *ignore, stdout, stderr)
}

func demoFEServer(leakAfter, leakEvery time.Duration, ignore []string, stdout, stderr io.Writer) int {
	// The "backend" accepts and closes at once, like a peer that timed out:
	// every connection the front end keeps open afterwards sits in CLOSE_WAIT.
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "fe-server:", err)
		return 1
	}
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGQUIT, unix.SIGTERM, unix.SIGINT)
	ignored := map[string]bool{}
	for _, s := range ignore {
		if sig, err := signame.Parse(s); err == nil {
			ignored[signame.Name(sig)] = true
		}
	}
	fmt.Fprintf(stdout, "fe-server pid %d up; backend at %s; leaking from %s on (ignoring %s)\n",
		os.Getpid(), backend.Addr(), leakAfter, strings.Join(ignore, ","))
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
			c, err := net.Dial("tcp", backend.Addr().String())
			if err != nil {
				fmt.Fprintln(stderr, "fe-server: dial:", err)
				continue
			}
			leaked = append(leaked, c) // never closed: the bug
			if len(leaked)%4 == 1 {
				fmt.Fprintf(stdout, "fe-server: %d connections left open by the backend client\n", len(leaked))
			}
		case sig := <-sigs:
			name := signame.Name(sig.(unix.Signal))
			switch {
			case name == "QUIT":
				fmt.Fprintf(stdout, "fe-server: SIGQUIT: thread dump: 1 goroutine leaking, %d sockets held\n", len(leaked))
			case ignored[name]:
				fmt.Fprintf(stdout, "fe-server: SIG%s ignored (stuck in the network library)\n", name)
			default:
				fmt.Fprintf(stdout, "fe-server: SIG%s: shutting down\n", name)
				return 0
			}
		}
	}
}
