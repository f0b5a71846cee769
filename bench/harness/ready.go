//go:build linux

package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// ErrExited is returned by WaitReady when the process exits before it
// printed its ready line.
var ErrExited = errors.New("exited before it was ready")

// ReadyProc is a process that says on its standard output, with a line
// starting with "ready", when it is in place, and stops when its standard
// input reaches end of file: bench/cmd/sockload as the harness runs it,
// and each of sockload's workers.
type ReadyProc struct {
	Cmd *exec.Cmd

	stdin io.WriteCloser
	line  string        // the ready line; set before ready is closed
	ready chan struct{} // closed at the ready line
	done  chan struct{} // closed once the process is reaped
	err   error         // of Cmd.Wait; set before done is closed
}

// StartReady starts cmd with pipes on its standard input and output; set
// its Stderr and SysProcAttr before. The output is read to its end, so
// that a process that goes on writing after its ready line never blocks
// on a full pipe; the lines after the ready line are discarded.
func StartReady(cmd *exec.Cmd) (*ReadyProc, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &ReadyProc{Cmd: cmd, stdin: stdin, ready: make(chan struct{}), done: make(chan struct{})}
	go p.read(stdout)
	return p, nil
}

// read watches the output for the ready line, then reaps the process:
// Wait closes the pipe, so it comes only once the output has ended
// (exec.Cmd.StdoutPipe).
func (p *ReadyProc) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	seen := false
	for sc.Scan() {
		if !seen && strings.HasPrefix(sc.Text(), "ready") {
			p.line, seen = sc.Text(), true
			close(p.ready)
		}
	}
	// The scanner stops at a line longer than its buffer: the rest is
	// drained all the same, or the process would block writing it.
	_, _ = io.Copy(io.Discard, stdout)
	p.err = p.Cmd.Wait()
	close(p.done)
}

// WaitReady returns the ready line once the process has printed it. It
// fails with ErrExited, wrapping the exit status, when the process exits
// first, and with ctx's error when ctx ends first (the process is left
// running: Stop it).
func (p *ReadyProc) WaitReady(ctx context.Context) (string, error) {
	select {
	case <-p.ready:
		return p.line, nil
	case <-p.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case <-p.ready: // printed, then exited at once
		return p.line, nil
	default:
	}
	if p.err != nil {
		return "", fmt.Errorf("%w: %w", ErrExited, p.err)
	}
	return "", ErrExited
}

// Done is closed once the process has exited and been reaped.
func (p *ReadyProc) Done() <-chan struct{} { return p.done }

// Err returns the error of Cmd.Wait, once Done is closed.
func (p *ReadyProc) Err() error { return p.err }

// Stop closes the process's standard input, which asks it to stop, and
// kills it if it has not exited by deadline. It returns once the process
// is reaped.
func (p *ReadyProc) Stop(deadline time.Time) {
	_ = p.stdin.Close()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}
