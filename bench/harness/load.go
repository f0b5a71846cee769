//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Load is a running bench/cmd/sockload.
type Load struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	Ready string // sockload's "ready" line
}

// StartLoad starts sockload with a table of about sockets sockets, closeWait
// of them in CLOSE_WAIT, and waits until it reports ready. The CLOSE_WAIT
// sockets are held by the largest worker, or with apart by a small worker
// of their own.
func StartLoad(ctx context.Context, sockload string, sockets, closeWait int, apart bool) (*Load, error) {
	cmd := exec.Command(sockload, "-sockets", strconv.Itoa(sockets), "-close-wait", strconv.Itoa(closeWait),
		"-close-wait-apart="+strconv.FormatBool(apart))
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	// If the harness dies, sockload sees its stdin close and goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sockload: %w", err)
	}
	l := &Load{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				ready <- sc.Text()
			}
		}
		_ = cmd.Wait()
		close(l.done)
	}()
	select {
	case l.Ready = <-ready:
		return l, nil
	case <-l.done:
		return nil, fmt.Errorf("sockload exited before it was ready: %s", strings.TrimSpace(stderr.String()))
	case <-ctx.Done():
		l.Stop()
		return nil, ctx.Err()
	case <-time.After(3 * time.Minute):
		l.Stop()
		return nil, errors.New("sockload not ready after 3 minutes")
	}
}

// Stop closes sockload's stdin (it stops its workers and exits), and kills it
// if it is still there after 15 seconds.
func (l *Load) Stop() {
	_ = l.stdin.Close()
	select {
	case <-l.done:
		return
	case <-time.After(15 * time.Second):
	}
	_ = l.cmd.Process.Kill()
	<-l.done
}

// CountSockets counts the TCP sockets of the calling process's network
// namespace, IPv4 and IPv6, and those in CLOSE_WAIT.
func CountSockets() (total, closeWait int, err error) {
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		sc.Scan() // header
		for sc.Scan() {
			fields := bytes.Fields(sc.Bytes())
			if len(fields) < 4 {
				continue
			}
			total++
			if string(fields[3]) == "08" { // TCP_CLOSE_WAIT
				closeWait++
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return 0, 0, err
		}
	}
	return total, closeWait, nil
}
