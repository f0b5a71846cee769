//go:build linux

package supervisor

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/safefs"
	"github.com/resreap/resreap/internal/testchild"
)

// testClock is a clock that moves a second each time it is read, so that
// each rotation gets a name of its own, in order.
func testClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

// newTestOutFile is newOutFile with testClock, closed at cleanup.
func newTestOutFile(t *testing.T, path string, set outSettings) *outFile {
	t.Helper()
	w := newOutFile(path, set, zerolog.New(io.Discard))
	w.now = testClock()
	t.Cleanup(w.close)
	return w
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// readLines reads the lines of a file, gunzipped when its name ends in .gz.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r = zr
	}
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return lines
}

// Writes past max_size rotate the file; the rotated files are gzipped in
// the background and only the newest keep are kept; every line is whole,
// in order, in the newest files, and every file has the mode asked for.
func TestOutFileRotatesAndCompresses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs") // made by the writer
	path := filepath.Join(dir, "app.log")
	w := newTestOutFile(t, path, outSettings{perm: safefs.Perm{Mode: 0o640}, maxSize: 100, keep: 3, compress: true})
	if err := w.ready(); err != nil {
		t.Fatal(err)
	}
	const n = 40 // 3 lines of 25 bytes a file: 13 rotations
	for i := range n {
		if _, err := fmt.Fprintf(w, "line %02d of the output 123\n", i); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	testchild.WaitFor(t, "3 gzipped files beside the live one", func() bool {
		names = dirNames(t, dir)
		gz := 0
		for _, name := range names {
			if strings.HasSuffix(name, ".log.gz") {
				gz++
			}
		}
		return gz == 3 && len(names) == 4
	})
	for i, name := range names {
		if i < 3 && !(strings.HasPrefix(name, "app-2026-01-02T03-") && strings.HasSuffix(name, ".000.log.gz")) || i == 3 && name != "app.log" {
			t.Errorf("names %v: want three app-<time>.log.gz, then app.log", names)
			break
		}
	}
	var got []string
	for _, name := range append(names[:3:3], "app.log") { // oldest first, then the live file
		got = append(got, readLines(t, filepath.Join(dir, name))...)
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, %v; want 0640", name, st.Mode().Perm(), err)
		}
	}
	var want []string
	for i := n - len(got); i < n; i++ {
		want = append(want, fmt.Sprintf("line %02d of the output 123", i))
	}
	if !slices.Equal(got, want) || len(got) < 10 {
		t.Errorf("lines in the files:\n%s\nwant the last ones, whole and in order:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("directory made: %v %v", st.Mode(), err)
	}
	t.Logf("%d lines of 26 bytes at max_size 100, keep 3: %v hold the last %d", n, names, len(got))
}

// Rotated files an earlier run left, plain, half-compressed or beyond
// keep, are compressed and pruned when the file is first opened; files
// that are not its own are left alone.
func TestOutFileTidiesLeftovers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		write(fmt.Sprintf("app-2025-01-0%dT00-00-00.000.log", i+1), fmt.Sprintf("old %d\n", i+1))
	}
	write("app-2025-01-05T00-00-00.000.log.gz.tmp-0badf00d", "half") // a compression cut short
	write("app-2024-12-31T00-00-00.000.log.gz.tmp-0badf00d", "half") // one whose file is gone
	write("app-worker.log", "another child's\n")
	write("app-2025-01-06T00-00-00.000.txt", "not a rotated app.log\n")
	write("app.log", "live\n")
	w := newTestOutFile(t, filepath.Join(dir, "app.log"), outSettings{perm: safefs.Perm{Mode: 0o640}, maxSize: 1 << 20, keep: 2, compress: true})
	if err := w.ready(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"app-2025-01-04T00-00-00.000.log.gz",
		"app-2025-01-05T00-00-00.000.log.gz",
		"app-2025-01-05T00-00-00.000.log.gz.tmp-0badf00d", // kept with its file: another mill may be writing it
		"app-2025-01-06T00-00-00.000.txt",
		"app-worker.log",
		"app.log",
	}
	var names []string
	testchild.WaitFor(t, "leftovers compressed and pruned", func() bool {
		names = dirNames(t, dir)
		return slices.Equal(names, want)
	})
	if got := readLines(t, filepath.Join(dir, want[1])); !slices.Equal(got, []string{"old 5"}) {
		t.Errorf("compressed copy holds %q", got)
	}
}

// The child's user owns the log directory: the files resreap creates
// there, live, rotated and compressed, are the user's, mode 0640, and a
// link the user plants, in place of the live file or named as a rotated
// one, is neither written, nor read, nor followed.
func TestOutFileInAUsersDirectory(t *testing.T) {
	u := testchild.NewUser(t)
	base := t.TempDir()
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	victim := filepath.Join(base, "victim")
	if err := os.WriteFile(victim, []byte("root data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	set := outSettings{pol: safefs.Policy{UID: u.UID}, perm: safefs.Perm{UID: u.UID, GID: u.GID, Mode: 0o640}, maxSize: 40, keep: 5, compress: true}

	// A link in place of the live file: refused at the start, and by
	// each write.
	u.Run(t, "ln", "-s", victim, filepath.Join(dir, "bad.log"))
	bad := newTestOutFile(t, filepath.Join(dir, "bad.log"), set)
	if err := bad.ready(); !errors.Is(err, safefs.ErrUnsafe) {
		t.Errorf("ready with a planted link: %v", err)
	}
	if _, err := bad.Write([]byte("to the victim?\n")); !errors.Is(err, safefs.ErrUnsafe) {
		t.Errorf("write with a planted link: %v", err)
	}
	// Once the link is gone, the next write creates the file.
	u.Run(t, "rm", filepath.Join(dir, "bad.log"))
	if _, err := bad.Write([]byte("after the link\n")); err != nil {
		t.Errorf("write once the link is gone: %v", err)
	}
	if got := readLines(t, filepath.Join(dir, "bad.log")); !slices.Equal(got, []string{"after the link"}) {
		t.Errorf("bad.log holds %q", got)
	}
	u.Run(t, "ln", "-sf", victim, filepath.Join(dir, "bad.log")) // for the checks below

	// A link named as a rotated file: never compressed (read) nor pruned.
	planted := "app-2025-01-01T00-00-00.000.log"
	u.Run(t, "ln", "-s", victim, filepath.Join(dir, planted))
	w := newTestOutFile(t, filepath.Join(dir, "app.log"), set)
	for i := range 6 {
		fmt.Fprintf(w, "line %d of twenty bytes\n", i) //nolint:errcheck // checked by what is read back
	}
	testchild.WaitFor(t, "rotated files compressed", func() bool {
		gz := 0
		for _, n := range dirNames(t, dir) {
			if strings.HasSuffix(n, ".gz") {
				gz++
			}
		}
		return gz == 5
	})
	for _, name := range dirNames(t, dir) {
		st, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		switch {
		case name == planted || name == "bad.log":
			if st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("%s: the planted link is gone or changed: %v", name, st.Mode())
			}
		case int(sys.Uid) != u.UID || int(sys.Gid) != u.GID || st.Mode().Perm() != 0o640:
			t.Errorf("%s: owned %d:%d mode %v, want %d:%d 0640", name, sys.Uid, sys.Gid, st.Mode().Perm(), u.UID, u.GID)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "root data\n" {
		t.Errorf("victim changed: %q %v", b, err)
	}
	t.Logf("files in the user's directory: %v", dirNames(t, dir))
}
