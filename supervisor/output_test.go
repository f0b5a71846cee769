//go:build linux

package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/testchild"
)

// A child writing as fast as it can into a file that rotates every
// megabyte loses no line and splits none: every numbered line it wrote
// is in the file or one of its rotated copies, once, whole and in order.
func TestOutputFileRotatesWithoutLosingLines(t *testing.T) {
	const lines = 250000 // about 2.9 MB: three files at 1 MB; under the queue's bound, so nothing may drop
	dir := t.TempDir()
	file := filepath.Join(dir, "fast.log")
	spec := helperSpec("fast", "lines", testchild.NEnv+"="+strconv.Itoa(lines))
	spec.Stdout = config.OutputSpec{Mode: config.OutputFile, File: file, MaxSize: 1 << 20, Keep: 100}
	spec.Stderr = config.OutputSpec{Mode: config.OutputNull}
	h := startSupervisor(t, spec)
	h.waitState(t, "fast", Running, 30*time.Second)

	var got []int
	deadline := time.Now().Add(60 * time.Second)
	for {
		got = readNumberedLines(t, dir, "fast")
		if len(got) >= lines || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != lines {
		t.Fatalf("%d lines in the files, want %d", len(got), lines)
	}
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("line %d of the files is line %d, want line %d", i+1, n, i+1)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "fast*"))
	if len(files) < 3 {
		t.Errorf("files %v, want the current one and at least two rotated", files)
	}
	if lost := h.sup.Info().OutputLost; lost != 0 {
		t.Errorf("%d lines reported lost", lost)
	}
	if text := h.out.String(); strings.Contains(text, "fast | line") {
		t.Errorf("lines of a file output also went to resreap's stdout")
	}
}

// readNumberedLines reads the numbers of the "line N" lines of the
// output files of child name in dir, oldest file first (outFile names
// rotated copies name-<time>.ext, and the current file is the newest). A
// line that is not "line N" or other text fails the test, unless it is the
// helper's ready line. A last line without its newline is being written
// (a reader may see part of a write): it is left for the next read.
func readNumberedLines(t *testing.T, dir, name string) []int {
	t.Helper()
	rotated, _ := filepath.Glob(filepath.Join(dir, name+"-*.log"))
	slices.Sort(rotated) // the time stamp in the name sorts oldest first
	var out []int
	for _, path := range append(rotated, filepath.Join(dir, name+".log")) {
		f, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		br := bufio.NewReader(f)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				break // EOF, after a whole line or within one
			}
			l = strings.TrimSuffix(l, "\n")
			if strings.HasPrefix(l, "ready ") {
				continue
			}
			n, err := strconv.Atoi(strings.TrimPrefix(l, "line "))
			if err != nil || !strings.HasPrefix(l, "line ") {
				f.Close()
				t.Fatalf("%s: unexpected line %q", path, l)
			}
			out = append(out, n)
		}
		f.Close()
	}
	return out
}

// "null" discards the output: nothing reaches resreap's stdout.
func TestOutputNull(t *testing.T) {
	quiet := helperSpec("quiet", "lines", testchild.NEnv+"=100")
	quiet.Stdout = config.OutputSpec{Mode: config.OutputNull}
	loud := helperSpec("loud", "lines", testchild.NEnv+"=100")
	h := startSupervisor(t, quiet, loud)
	h.out.waitLine(t, 30*time.Second, "loud | line 100")
	h.waitState(t, "quiet", Running, 30*time.Second)
	h.stop()
	if text := h.out.String(); strings.Contains(text, "quiet | ") {
		t.Errorf("output of a null stdout reached resreap's stdout:\n%s", text)
	}
	if st := fmt.Sprint(h.sup.Info().OutputLost); st != "0" {
		t.Errorf("OutputLost %s", st)
	}
}

// A child's lines shown on resreap's own output, after "NAME | ", are
// escaped: its escape sequences, a C1 CSI, a byte that is not UTF-8. Its
// own file gets its bytes as it wrote them.
func TestOutputPrefixedLinesEscaped(t *testing.T) {
	sh := testchild.NeedCommand(t, "sh")
	file := filepath.Join(t.TempDir(), "err.log")
	spec := helperSpec("painter", "")
	spec.Command = []string{sh, "-c", `printf 'out \033]0;pwned\007 \302\233 \377 end\n'; printf 'err \033[2J end\n' >&2; exec sleep 1000`}
	spec.Env = nil
	spec.Stderr = config.OutputSpec{Mode: config.OutputFile, File: file, MaxSize: 1 << 20, Keep: 1}
	h := startSupervisor(t, spec)
	line := h.out.waitLine(t, 30*time.Second, "painter | out")
	if want := `painter | out \x1b]0;pwned\a \u009b \xff end`; line != want {
		t.Errorf("line %q, want %q", line, want)
	}
	var data []byte
	testchild.WaitWithin(t, "the stderr line in "+file, 30*time.Second, func() bool {
		data, _ = os.ReadFile(file)
		return strings.Contains(string(data), "end\n")
	})
	if want := "err \x1b[2J end\n"; string(data) != want {
		t.Errorf("file %q, want %q as written", data, want)
	}
	h.stop()
	if i := strings.IndexFunc(h.out.String(), func(r rune) bool { return r != '\n' && (r < 0x20 || r >= 0x7f && r < 0xa0) }); i >= 0 {
		t.Errorf("raw control character in resreap's output:\n%q", h.out.String())
	}
}

// Outputs naming one file with the same settings share one writer: the
// stdout of one child and the stderr of another (as the demo's worker
// sends both of its own to one file) write whole lines, none lost, into
// one file that rotates once.
func TestOutputFileShared(t *testing.T) {
	const lines = 20000
	dir := t.TempDir()
	out := config.OutputSpec{Mode: config.OutputFile, File: filepath.Join(dir, "both.log"), MaxSize: 1 << 20, Keep: 10, FileMode: 0o640}
	a := helperSpec("a", "lines", testchild.NEnv+"="+strconv.Itoa(lines))
	a.Stdout, a.Stderr = out, out
	b := helperSpec("b", "lines", testchild.NEnv+"="+strconv.Itoa(lines), testchild.StreamEnv+"=stderr")
	b.Stdout, b.Stderr = config.OutputSpec{Mode: config.OutputNull}, out
	h := startSupervisor(t, a, b)
	var n int
	testchild.WaitFor(t, "every line of both children in the file", func() bool {
		n = 0
		for _, l := range readLinesOf(t, filepath.Join(dir, "both.log")) {
			if strings.HasPrefix(l, "line ") {
				n++
			} else if !strings.HasPrefix(l, "ready ") {
				t.Fatalf("a line not whole: %q", l)
			}
		}
		return n == 2*lines
	})
	h.sup.mu.Lock()
	writers := len(h.sup.files)
	h.sup.mu.Unlock()
	if writers != 1 {
		t.Errorf("%d writers for one file", writers)
	}
	if st, err := os.Stat(filepath.Join(dir, "both.log")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v %v, want 0640", st.Mode().Perm(), err)
	}
}

// readLinesOf reads the lines of a file.
func readLinesOf(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
