//go:build linux

package supervisor

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// maxQueued bounds the bytes of child output waiting for a writer: a
// little over a second of a very chatty child, and a bounded cost when
// nobody reads at all.
const maxQueued = 4 << 20

// closeWait bounds how long closing a lineQueue waits for its writer: one
// stuck in a write to a pipe nobody reads never returns, and shutdown must
// not wait for it.
const closeWait = 2 * time.Second

// lineQueue writes whole lines to w from a goroutine of its own, through a
// bounded queue. A writer that blocks (a stopped log shipper, a full pipe,
// a terminal on hold) holds up no child and no part of supervision: when
// the queue is full, new lines are dropped and counted, and once w takes
// lines again a line says how many were lost. Lines of several children
// never interleave within a line.
type lineQueue struct {
	w    io.Writer
	name string // "stdout" or "stderr", for the notice of drops

	mu      sync.Mutex
	lines   [][]byte
	bytes   int
	dropped int   // lines dropped since the last notice
	lost    int64 // lines dropped in all
	closed  bool
	wake    chan struct{} // buffered 1: lines are waiting, or closed
	done    chan struct{} // closed when the writer returns
}

func newLineQueue(w io.Writer, name string) *lineQueue {
	q := &lineQueue{w: w, name: name, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// put queues prefix+line+"\n" without ever blocking.
func (q *lineQueue) put(prefix string, line []byte) {
	b := make([]byte, 0, len(prefix)+len(line)+1)
	b = append(append(append(b, prefix...), line...), '\n')
	q.mu.Lock()
	switch {
	case q.closed:
	case q.bytes+len(b) > maxQueued:
		q.dropped++
		q.lost++
	default:
		q.lines = append(q.lines, b)
		q.bytes += len(b)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Lost returns how many lines were dropped in all.
func (q *lineQueue) Lost() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lost
}

func (q *lineQueue) run() {
	defer close(q.done)
	for range q.wake {
		q.mu.Lock()
		lines, dropped, closed := q.lines, q.dropped, q.closed
		q.lines, q.bytes, q.dropped = nil, 0, 0
		q.mu.Unlock()
		for _, l := range lines {
			q.w.Write(l) //nolint:errcheck // nowhere better to report a failing stdout
		}
		if dropped > 0 {
			fmt.Fprintf(q.w, "resreap: %d lines of child output dropped: %s was not being read\n", dropped, q.name)
		}
		if closed {
			return
		}
	}
}

// close writes what is queued and stops the writer, waiting for it at
// most closeWait.
func (q *lineQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	select {
	case <-q.done:
	case <-time.After(closeWait):
	}
}

// copyLines copies r to q line by line with prefix until EOF or until r
// is closed. Lines longer than the buffer are split, not dropped.
func copyLines(r *os.File, prefix string, q *lineQueue) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			q.put(prefix, line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
