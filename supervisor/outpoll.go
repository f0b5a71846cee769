//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// outputPoller copies the stdout and stderr pipes of every child, line by
// line, on one goroutine: an epoll set of the pipes' read ends, itself
// waited on through the Go runtime's poller, so that no thread blocks in
// it either.
//
// A goroutine per pipe, each with a 64 KiB bufio.Reader, cost two stacks
// and 128 KiB of heap per child (the heap mostly untouched, yet counted
// live, so the runtime let the heap grow twice as far before collecting):
// 2,000 goroutines and 64 MB of heap for 500 idle children. Here a pipe is
// a raw descriptor and a line not ended yet, the read buffer and the
// escape buffer are the poller's, and lines are cut as bufio.Reader cut
// them: at each newline, at 64 KiB without one, at the end of the pipe.
type outputPoller struct {
	ep    *os.File        // the epoll set, nonblocking, in the runtime's poller
	epfd  int             // ep's descriptor (ep.Fd would make it blocking)
	rc    syscall.RawConn // of ep
	wake  int             // eventfd in the set: closing, or pipes to end
	buf   []byte          // the read buffer
	esc   []byte          // the escaped line, reused
	evs   []unix.EpollEvent
	done  chan struct{} // closed when run returns
	pipes sync.WaitGroup

	mu      sync.Mutex
	open    map[int32]*outPipe // by descriptor
	ending  bool               // end every pipe at the next wake
	closing bool
}

// outPipe is one child output pipe and where its lines go.
type outPipe struct {
	fd     int
	prefix string // "NAME | " for resreap's own output, "" for a file
	q      *lineQueue
	tap    *tapOutput
	tail   *outputTail // the process's; told when the pipe ends
	stderr bool
	part   []byte // the start of a line not ended yet; nil when none
}

// outChunk bounds a line: a line longer is cut, as bufio.Reader cut it.
const outChunk = 64 << 10

func newOutputPoller() (*outputPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("output: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("output: eventfd: %w", err)
	}
	p := &outputPoller{epfd: epfd, wake: wake, buf: make([]byte, outChunk), evs: make([]unix.EpollEvent, 64),
		done: make(chan struct{}), open: map[int32]*outPipe{}}
	err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)})
	if err == nil {
		err = unix.SetNonblock(epfd, true)
	}
	if err == nil {
		// Nonblocking, the set is pollable: the runtime's poller wakes
		// run when one of its pipes is ready.
		p.ep = os.NewFile(uintptr(epfd), "epoll")
		p.rc, err = p.ep.SyscallConn()
	}
	if err != nil {
		if p.ep != nil {
			p.ep.Close()
		} else {
			unix.Close(epfd)
		}
		unix.Close(wake)
		return nil, fmt.Errorf("output: epoll: %w", err)
	}
	go p.run()
	return p, nil
}

// add copies the lines of f to q, each with prefix, to tap while a
// capture is installed, and to tail, until the pipe ends; then it tells
// tail (copied). f is closed: the poller reads a descriptor of its own.
// On an error, tail is not told.
func (p *outputPoller) add(f *os.File, prefix string, q *lineQueue, tap *tapOutput, tail *outputTail, stderr bool) error {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	cerr := rc.Control(func(raw uintptr) { fd, err = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0) })
	if err = errors.Join(cerr, err); err != nil {
		return fmt.Errorf("output pipe: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("output pipe: %w", err)
	}
	op := &outPipe{fd: fd, prefix: prefix, q: q, tap: tap, tail: tail, stderr: stderr}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		unix.Close(fd)
		return errors.New("output: closed")
	}
	p.pipes.Add(1)
	p.open[int32(fd)] = op
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		delete(p.open, int32(fd))
		p.pipes.Done()
		unix.Close(fd)
		return fmt.Errorf("output pipe: %w", err)
	}
	return nil
}

// run reads the pipes that are ready, until close.
func (p *outputPoller) run() {
	defer close(p.done)
	for {
		var n int
		var werr error
		err := p.rc.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), p.evs, 0)
			return n > 0 || werr != nil && werr != unix.EINTR
		})
		if err != nil || werr != nil {
			return // the set was closed
		}
		for _, ev := range p.evs[:n] {
			if ev.Fd == int32(p.wake) {
				if p.woken() {
					return
				}
				continue
			}
			if op, ok := p.lookup(ev.Fd); ok {
				p.read(op)
			}
		}
	}
}

// read takes what one read of op's pipe gives (one read per readiness,
// so that a chatty child does not hold up the others), and ends the pipe
// at its end. It reports whether the pipe had something: then it may
// have more.
func (p *outputPoller) read(op *outPipe) bool {
	k, err := unix.Read(op.fd, p.buf)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return false
	case err != nil || k == 0:
		p.end(op)
		return false
	}
	p.lines(op, p.buf[:k])
	return true
}

// lines cuts data, read from op's pipe, into lines and hands them on;
// the start of a line not ended yet stays in op.part.
func (p *outputPoller) lines(op *outPipe, data []byte) {
	for len(data) > 0 {
		i := indexNewline(data)
		if i < 0 {
			// No newline: keep the start of the line, up to outChunk.
			take := min(outChunk-len(op.part), len(data))
			op.part = append(op.part, data[:take]...)
			data = data[take:]
			if len(op.part) == outChunk {
				p.line(op, op.part)
				op.part = op.part[:0]
			}
			continue
		}
		line := data[:i]
		if len(op.part) > 0 {
			if len(op.part)+len(line) > outChunk {
				// Cut where bufio cut: the first outChunk bytes, then
				// the rest as a line of its own.
				take := outChunk - len(op.part)
				p.line(op, append(op.part, line[:take]...))
				line = line[take:]
			} else {
				line = append(op.part, line...)
			}
			op.part = nil
		}
		p.line(op, line)
		data = data[i+1:]
	}
	if len(op.part) == 0 {
		op.part = nil // an idle pipe keeps no buffer
	}
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// line hands one line of op's output where it goes (outputLine).
func (p *outputPoller) line(op *outPipe, line []byte) {
	p.esc = outputLine(line, op.prefix, op.q, op.tap, op.tail, op.stderr, p.esc)
}

// end hands on what is left of a line of op and closes its pipe.
func (p *outputPoller) end(op *outPipe) {
	if len(op.part) > 0 {
		p.line(op, op.part)
		op.part = nil
	}
	p.mu.Lock()
	delete(p.open, int32(op.fd))
	p.mu.Unlock()
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, op.fd, nil) //nolint:errcheck // closing removes it anyway
	unix.Close(op.fd)
	op.tail.copied()
	p.pipes.Done()
}

// woken handles a wake: ending every pipe, or closing. It reports
// whether run returns.
func (p *outputPoller) woken() bool {
	var b [8]byte
	unix.Read(p.wake, b[:]) //nolint:errcheck // a counter; only the wake matters
	p.mu.Lock()
	ending, closing := p.ending, p.closing
	var ops []*outPipe
	if ending || closing {
		for _, op := range p.open {
			ops = append(ops, op)
		}
	}
	p.mu.Unlock()
	for _, op := range ops {
		// What the pipe holds is read first, as the reads of a copier
		// whose file was closed returned it.
		for p.read(op) {
		}
		if _, open := p.lookup(int32(op.fd)); open {
			p.end(op)
		}
	}
	return closing
}

func (p *outputPoller) lookup(fd int32) (*outPipe, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	op, ok := p.open[fd]
	return op, ok
}

func (p *outputPoller) signal() {
	var one = [8]byte{1}
	unix.Write(p.wake, one[:]) //nolint:errcheck // EAGAIN: a wake is pending already
}

// drain waits up to grace for every pipe to end (its writers gone), then
// ends the others: a pipe stays open while any process holds its write
// end (a grandchild that left the process group, say).
func (p *outputPoller) drain(grace time.Duration) {
	if _, ok := doneWithin(grace, p.pipes.Wait); ok {
		return
	}
	p.mu.Lock()
	p.ending = true
	p.mu.Unlock()
	p.signal()
	p.pipes.Wait()
}

// close ends every pipe left and stops the poller.
func (p *outputPoller) close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.signal()
	<-p.done
	p.pipes.Wait()
	p.ep.Close()
	unix.Close(p.wake)
}
