//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
)

// pollerFixture is an outputPoller with one queue, whose lines land in
// out.
type pollerFixture struct {
	p   *outputPoller
	q   *lineQueue
	out *testchild.Buffer
}

func newPollerFixture(t *testing.T) *pollerFixture {
	t.Helper()
	p, err := newOutputPoller()
	if err != nil {
		t.Fatal(err)
	}
	f := &pollerFixture{p: p, out: &testchild.Buffer{}}
	f.q = newLineQueue(f.out, "test")
	t.Cleanup(func() {
		p.close()
		f.q.close()
	})
	return f
}

// pipe adds a pipe to the poller with prefix and returns its write end.
func (f *pollerFixture) pipe(t *testing.T, prefix string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := f.p.add(r, prefix, f.q, &tapOutput{}, nil, false); err != nil {
		t.Fatal(err)
	}
	return w
}

// lines waits until the output holds n lines and returns them.
func (f *pollerFixture) lines(t *testing.T, n int) []string {
	t.Helper()
	var have []string
	testchild.WaitFor(t, fmt.Sprintf("%d lines", n), func() bool {
		have = strings.Split(strings.TrimSuffix(f.out.String(), "\n"), "\n")
		return len(have) >= n && f.out.String() != ""
	})
	return have
}

// Lines are cut as bufio.Reader cut them: at each newline, a line coming
// in several reads, at 64 KiB without one, and at the end of the pipe,
// whatever is left.
func TestOutputPollerCutsLines(t *testing.T) {
	f := newPollerFixture(t)
	long := strings.Repeat("x", 150<<10)
	op := &outPipe{fd: -1, prefix: "c | ", q: f.q, tap: &tapOutput{}}
	for _, s := range []string{"a\nbb\n", "c", "c\n", long[:100], long[100:], "\nlast"} {
		f.p.lines(op, []byte(s))
	}
	if string(op.part) != "last" {
		t.Errorf("line begun: %q, want last", op.part)
	}
	// The end of the pipe hands on what is left (end, without the pipe).
	f.p.line(op, op.part)
	have := f.lines(t, 7)
	want := []string{"c | a", "c | bb", "c | cc", "c | " + long[:64<<10], "c | " + long[64<<10:128<<10], "c | " + long[128<<10:], "c | last"}
	if !slices.Equal(have, want) {
		for i := range max(len(have), len(want)) {
			var h, w string
			if i < len(have) {
				h = have[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if h != w {
				t.Errorf("line %d: %d bytes %.20q..., want %d bytes %.20q...", i, len(h), h, len(w), w)
			}
		}
	}
}

// A pipe's end hands on the line it had begun.
func TestOutputPollerEndOfPipe(t *testing.T) {
	f := newPollerFixture(t)
	w := f.pipe(t, "")
	if _, err := w.WriteString("one\ntwo"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if have := f.lines(t, 2); !slices.Equal(have, []string{"one", "two"}) {
		t.Errorf("lines %q, want one and two", have)
	}
	f.p.drain(time.Minute) // the pipe ended: returns at once
}

// Many pipes at once, each a writer of its own: every line arrives whole,
// each pipe's in order, and the pipes cost the poller no goroutine.
func TestOutputPollerManyPipes(t *testing.T) {
	f := newPollerFixture(t)
	const pipes, lines = 100, 200
	before := runtime.NumGoroutine()
	ws := make([]*os.File, pipes)
	for i := range ws {
		ws[i] = f.pipe(t, fmt.Sprintf("p%03d | ", i))
	}
	// Not equal: a goroutine of an earlier test may end meanwhile.
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines for %d pipes, %d before", n, pipes, before)
	}
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			for j := range lines {
				fmt.Fprintf(w, "line %d of pipe %d\n", j, i)
			}
			w.Close()
		})
	}
	wg.Wait()
	have := f.lines(t, pipes*lines)
	next := make([]int, pipes)
	for _, l := range have {
		var i, j, k int
		if _, err := fmt.Sscanf(l, "p%03d | line %d of pipe %d", &i, &j, &k); err != nil || i != k || j != next[i] {
			t.Fatalf("line %q out of place (want line %d of pipe %d)", l, next[i], i)
		}
		next[i]++
	}
	f.p.drain(time.Minute) // every pipe ended: returns at once
}

// A pipe whose writer never closes (a grandchild that kept it) is ended
// by drain after the grace, and the line it had begun is handed on.
func TestOutputPollerDrainEndsHeldPipes(t *testing.T) {
	f := newPollerFixture(t)
	w := f.pipe(t, "")
	if _, err := w.WriteString("done\nhalf"); err != nil {
		t.Fatal(err)
	}
	f.lines(t, 1)
	f.p.drain(50 * time.Millisecond)
	if have := f.lines(t, 2); !slices.Equal(have, []string{"done", "half"}) {
		t.Errorf("lines %q, want done and half", have)
	}
}
