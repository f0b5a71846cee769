//go:build linux

package supervisor

import (
	"strings"
	"sync"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/textsafe"
)

// A start that fails says why in the child's own words: nginx's
// `[emerg] unexpected "}" in nginx.conf:4` is in its stderr, and an exit
// code of 1 says nothing. So the output copiers of each process keep its
// last lines in a small ring (outputTail), and a failed start puts them
// in the operator's error, the history record (output_tail) and status,
// with where the rest is (systemctl status shows the last log lines the
// same way).

// Bounds of an output tail: tailLines lines and tailBytes bytes in all
// when read, each line kept up to tailLine bytes. Enough for an error
// message and the end of a traceback; 5 KiB held per process.
const (
	tailLines = 10
	tailBytes = 2 << 10
	tailLine  = 512
)

// tailWait bounds how long a failed start waits for the copiers of its
// process to read the last of its output (they end at EOF, once every
// process holding the pipes is gone): a process that escaped the kill
// and holds the pipe must not hold the child's owner up.
const tailWait = time.Second

// outputTail keeps the last lines one process wrote to its stdout and
// stderr, in the order the copiers saw them. The copiers add to it as
// they copy (no goroutine of its own); the buffers of its slots are
// reused, so a chatty process costs a copy of each line, not an
// allocation.
type outputTail struct {
	mu      sync.Mutex
	slots   [tailLines]tailSlot
	next    int  // the slot the next line goes to
	n       int  // lines held
	stdout  bool // a line came from stdout
	stderr  bool // a line came from stderr
	copiers int  // copiers still reading
	done    chan struct{}
}

type tailSlot struct {
	b   []byte
	cut bool // the line was longer than tailLine
}

// tailOf returns the tail of process p: one copier per pipe of its
// output.
func tailOf(p *proc.Process) *outputTail {
	copiers := 0
	for _, f := range p.Outputs() {
		if f != nil {
			copiers++
		}
	}
	return newOutputTail(copiers)
}

// newOutputTail returns the tail of a process whose output copiers
// (one per pipe) will add to it and call copied at EOF.
func newOutputTail(copiers int) *outputTail {
	t := &outputTail{copiers: copiers, done: make(chan struct{})}
	if copiers == 0 {
		close(t.done)
	}
	return t
}

// add keeps line, from stderr or stdout, as the newest.
func (t *outputTail) add(line []byte, stderr bool) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &t.slots[t.next]
	s.cut = len(line) > tailLine
	s.b = append(s.b[:0], line[:min(len(line), tailLine)]...)
	t.next = (t.next + 1) % tailLines
	t.n = min(t.n+1, tailLines)
	if stderr {
		t.stderr = true
	} else {
		t.stdout = true
	}
}

// copied tells the tail that one copier has reached EOF.
func (t *outputTail) copied() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.copiers--
	if t.copiers == 0 {
		close(t.done)
	}
}

// read waits up to tailWait for the copiers to have read everything,
// then returns the last lines, oldest first, within tailLines and
// tailBytes, and where all of the output is for spec; nil when the
// process wrote nothing.
func (t *outputTail) read(spec *config.ChildSpec) *history.OutputTail {
	if t == nil {
		return nil
	}
	timer := time.NewTimer(tailWait)
	select {
	case <-t.done:
	case <-timer.C:
	}
	timer.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	size := 0
	for i := range t.n {
		s := t.slots[(t.next-1-i+2*tailLines)%tailLines]
		line := string(s.b)
		if s.cut {
			line += "…"
		}
		if size+len(line) > tailBytes && len(lines) > 0 {
			break
		}
		size += len(line)
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return nil
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return &history.OutputTail{Lines: lines, FullOutput: fullOutput(spec, t.stdout, t.stderr)}
}

// fullOutput says where all of what the streams that wrote (stdout,
// stderr) went: the file, or resreap's own output for inherit.
func fullOutput(spec *config.ChildSpec, stdout, stderr bool) string {
	place := func(o config.OutputSpec) string {
		if o.Mode == config.OutputFile {
			return o.File
		}
		return "resreap's own output"
	}
	out, errs := place(spec.Stdout), place(spec.Stderr)
	switch {
	case !stderr:
		return out
	case !stdout, out == errs:
		return errs
	}
	return "stdout: " + out + "; stderr: " + errs
}

// tailText is a tail for a terminal: a line saying where all of the
// output is, then each line indented, escaped (textsafe): they are the
// child's bytes. "" without a tail.
func tailText(t *history.OutputTail) string {
	if t == nil || len(t.Lines) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("its last output (all of it in " + textsafe.Escape(t.FullOutput) + "):")
	for _, l := range t.Lines {
		b.WriteString("\n  " + textsafe.Escape(l))
	}
	return b.String()
}
