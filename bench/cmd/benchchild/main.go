//go:build linux

// Command benchchild is the child process the supervisor benchmarks run
// under resreap. It records, in a log file of its own, the moments that the
// supervisor's history cannot see with enough precision: when the process
// started running Go code, when it exited, when it leaked, when it got a
// signal. Each line is "EVENT PID UNIX_NANOSECONDS", appended with one write.
//
//	benchchild stamp                      print the start time to stdout and exit 0
//	benchchild restart -log FILE          log "start" and "exit", exit with status 1
//	benchchild leak -log FILE [-after-min D -after-max D -count N]
//	                                      log "start", wait a random time in
//	                                      [after-min, after-max), put N sockets
//	                                      in CLOSE_WAIT, log "leak", then wait;
//	                                      log "term" on SIGTERM and exit 0
//	benchchild serve [-addr A]            an HTTP server answering "ok" (GET
//	                                      /hold keeps the connection for ever:
//	                                      a CLOSE_WAIT leak once the client
//	                                      leaves): on the sockets of LISTEN_FDS,
//	                                      or bound to A; READY=1 on NOTIFY_SOCKET;
//	                                      drains on SIGTERM and exits 0
//
// It uses the standard library only (the socket activation and sd_notify
// of serve are a few lines, written out in serve.go), so that its
// start-up stays short.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

// started is taken during package initialisation, before main runs.
var started = time.Now()

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchchild stamp | restart -log FILE | leak -log FILE [flags]")
		os.Exit(2)
	}
	mode, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("benchchild "+mode, flag.ExitOnError)
	logPath := fs.String("log", "", "append events to this `file`")
	afterMin := fs.Duration("after-min", 500*time.Millisecond, "leak no sooner than this after start")
	afterMax := fs.Duration("after-max", 1500*time.Millisecond, "leak before this after start")
	count := fs.Int("count", 1, "CLOSE_WAIT sockets to leak")
	addr := fs.String("addr", "", "serve: bind this `address` instead of using LISTEN_FDS")
	_ = fs.Parse(args)

	switch mode {
	case "stamp":
		fmt.Println(started.UnixNano())
	case "restart":
		logEvent(*logPath, "start", started)
		logEvent(*logPath, "exit", time.Now())
		os.Exit(1)
	case "leak":
		os.Exit(leak(*logPath, *afterMin, *afterMax, *count))
	case "serve":
		os.Exit(serve(*addr))
	default:
		fmt.Fprintf(os.Stderr, "benchchild: unknown mode %q\n", mode)
		os.Exit(2)
	}
}

func logEvent(path, event string, t time.Time) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchchild:", err)
		os.Exit(1)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %d %d\n", event, os.Getpid(), t.UnixNano()); err != nil {
		fmt.Fprintln(os.Stderr, "benchchild:", err)
		os.Exit(1)
	}
}

func leak(path string, afterMin, afterMax time.Duration, count int) int {
	logEvent(path, "start", started)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)

	wait := afterMin
	if afterMax > afterMin {
		wait += rand.N(afterMax - afterMin)
	}
	select {
	case <-time.After(wait):
	case <-term:
		logEvent(path, "term", time.Now())
		return 0
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchchild:", err)
		return 1
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	var held []net.Conn
	buf := make([]byte, 1)
	for i := 0; i < count; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchchild:", err)
			return 1
		}
		// End of file: the peer's FIN arrived, this end is in CLOSE_WAIT.
		if _, err := c.Read(buf); err != io.EOF {
			fmt.Fprintln(os.Stderr, "benchchild: expected end of file, got", err)
			return 1
		}
		held = append(held, c)
	}
	logEvent(path, "leak", time.Now())

	<-term
	logEvent(path, "term", time.Now())
	runtime.KeepAlive(held)
	return 0
}
