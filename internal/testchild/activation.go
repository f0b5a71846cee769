//go:build linux

package testchild

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// Parameters of the socket-activated modes.
const (
	// ReadyEnv: "notify" sends READY=1 on NOTIFY_SOCKET once serving;
	// "never" never does (a generation that never gets ready); unset: no
	// message.
	ReadyEnv = "RESREAP_TESTCHILD_READY"
	// SuccessorPIDFileEnv: a tableflip successor writes its PID to this
	// file (as nginx's binary upgrade does) instead of sending MAINPID=.
	SuccessorPIDFileEnv = "RESREAP_TESTCHILD_SUCCESSOR_PIDFILE"
	// successorEnv marks a tableflip successor: the number of listening
	// sockets it inherits at fds 3..., followed by the pipe to its parent.
	successorEnv = "RESREAP_TESTCHILD_SUCCESSOR"
)

// serveActivated is the life of the modes that serve HTTP from sockets
// they inherit (see Main):
//
//	activation  serve "hello <pid>\n" on every socket of LISTEN_FDS
//	            (coreos/go-systemd's activation); GET /hold keeps the
//	            connection open and never closes it, so that it sits in
//	            CLOSE_WAIT once the client hangs up. On TERM, drain
//	            (http.Server.Shutdown) and exit 0. Prints "ready <pid>".
//	tableflip   activation, and on USR2 hand over as tableflip does: start
//	            a successor with the same sockets, which sends MAINPID=
//	            and READY=1 (or with SuccessorPIDFileEnv writes its PID
//	            there) and prints "ready <pid> successor"; then drain and
//	            exit 0.
func serveActivated(mode string) int {
	lns, pipe, err := inheritedListeners()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testchild:", err)
		return 3
	}
	var holdMu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello %d\n", os.Getpid())
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		holdMu.Lock()
		held = append(held, conn) // never closed: CLOSE_WAIT once the peer leaves
		holdMu.Unlock()
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nheld\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	for _, ln := range lns {
		go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGUSR2)
	if pipe != nil {
		if path := os.Getenv(SuccessorPIDFileEnv); path != "" {
			if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "testchild:", err)
			}
		} else {
			sdnotify.SdNotify(false, "MAINPID="+strconv.Itoa(os.Getpid())+"\nREADY=1") //nolint:errcheck // reported by the test
		}
		fmt.Println("ready", os.Getpid(), "successor")
		pipe.Write([]byte("ok")) //nolint:errcheck // the parent drains either way
		pipe.Close()
	} else {
		if os.Getenv(ReadyEnv) == "notify" {
			sdnotify.SdNotify(false, "READY=1") //nolint:errcheck // reported by the test
		}
		fmt.Println("ready", os.Getpid())
	}
	for sig := range sigs {
		if sig == unix.SIGUSR2 && mode == "tableflip" {
			if err := handOver(lns); err != nil {
				fmt.Fprintln(os.Stderr, "testchild: hand-over:", err)
				continue
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		srv.Shutdown(ctx) //nolint:errcheck // exit either way
		cancel()
		return 0
	}
	return 0
}

// inheritedListeners returns the listening sockets the helper was given:
// by socket activation, or by its parent as a tableflip successor (with
// the pipe to tell the parent it serves).
func inheritedListeners() ([]net.Listener, *os.File, error) {
	if v := os.Getenv(successorEnv); v != "" {
		n, _ := strconv.Atoi(v)
		var lns []net.Listener
		for i := range n {
			ln, err := net.FileListener(os.NewFile(uintptr(3+i), "listener"))
			if err != nil {
				return nil, nil, err
			}
			lns = append(lns, ln)
		}
		return lns, os.NewFile(uintptr(3+n), "parent"), nil
	}
	lns, err := activation.Listeners()
	if err == nil && len(lns) == 0 {
		err = fmt.Errorf("no LISTEN_FDS")
	}
	return lns, nil, err
}

// handOver starts the successor with lns and waits until it serves.
func handOver(lns []net.Listener) error {
	var files []*os.File
	for _, ln := range lns {
		f, err := ln.(interface{ File() (*os.File, error) }).File()
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), successorEnv+"="+strconv.Itoa(len(files)))
	cmd.ExtraFiles = append(files, w)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Start()
	w.Close()
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return err
	}
	r.SetReadDeadline(time.Now().Add(Timeout)) //nolint:errcheck // a pipe supports deadlines
	buf := make([]byte, 2)
	if _, err := r.Read(buf); err != nil {
		return fmt.Errorf("successor %d: %w", cmd.Process.Pid, err)
	}
	return nil
}
