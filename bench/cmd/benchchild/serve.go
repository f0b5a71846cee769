//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// serve runs the HTTP server of the zero-downtime benchmark (see the
// package doc) until SIGTERM, then drains: http.Server.Shutdown lets the
// requests under way finish and closes idle keep-alive connections.
func serve(addr string) int {
	lns, err := listeners(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchchild:", err)
		return 3
	}
	var mu sync.Mutex
	var held []net.Conn
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }) //nolint:errcheck // the client counts it
	mux.HandleFunc("/hold", func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		mu.Lock()
		held = append(held, conn)
		mu.Unlock()
		conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nheld\n")) //nolint:errcheck // as above
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	for _, ln := range lns {
		go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	}
	notify("READY=1")
	<-term
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv.Shutdown(ctx) //nolint:errcheck // exit either way
	return 0
}

// listeners are the sockets of systemd's socket activation (LISTEN_FDS
// from fd 3, for this process: LISTEN_PID), or addr bound here.
func listeners(addr string) ([]net.Listener, error) {
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		return []net.Listener{ln}, err
	}
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if n == 0 || os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil, fmt.Errorf("no -addr and no LISTEN_FDS for this process")
	}
	var lns []net.Listener
	for i := range n {
		f := os.NewFile(uintptr(3+i), "listener")
		syscall.CloseOnExec(3 + i)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// notify sends msg on NOTIFY_SOCKET, if there is one (sd_notify).
func notify(msg string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(msg)) //nolint:errcheck // best effort, as sd_notify
}
