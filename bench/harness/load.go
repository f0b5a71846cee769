//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Load is a running bench/cmd/sockload.
type Load struct {
	p     *ReadyProc
	Ready string // sockload's "ready" line
}

// StartLoad starts sockload with a table of about sockets sockets, closeWait
// of them in CLOSE_WAIT, and waits until it reports ready. The CLOSE_WAIT
// sockets are held by the largest worker, or with apart by a small worker
// of their own.
func StartLoad(ctx context.Context, sockload string, sockets, closeWait int, apart bool) (*Load, error) {
	return StartLoadIn(ctx, sockload, sockets, closeWait, apart, "", "")
}

// StartLoadIn is StartLoad with the process holding the CLOSE_WAIT sockets
// started inside the cgroup v2 directory holderCgroup, alone there, when
// it is not "" (sockload -holder-cgroup), and the workers' command lines
// ending with "-tag TAG" when tag is not "" (see TaggedHolder).
func StartLoadIn(ctx context.Context, sockload string, sockets, closeWait int, apart bool, holderCgroup, tag string) (*Load, error) {
	cmd := exec.Command(sockload, "-sockets", strconv.Itoa(sockets), "-close-wait", strconv.Itoa(closeWait),
		"-close-wait-apart="+strconv.FormatBool(apart), "-holder-cgroup", holderCgroup, "-tag", tag)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	// If the harness dies, sockload sees its stdin close and goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p, err := StartReady(cmd)
	if err != nil {
		return nil, fmt.Errorf("start sockload: %w", err)
	}
	l := &Load{p: p}
	wait, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if l.Ready, err = p.WaitReady(wait); err == nil {
		return l, nil
	}
	if errors.Is(err, ErrExited) {
		return nil, fmt.Errorf("sockload %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	l.Stop()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, errors.New("sockload not ready after 3 minutes")
}

// Stop closes sockload's stdin (it stops its workers and exits), and kills it
// if it is still there after 15 seconds.
func (l *Load) Stop() { l.p.Stop(time.Now().Add(15 * time.Second)) }

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
