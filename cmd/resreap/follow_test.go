//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
	"golang.org/x/sys/unix"
)

// wakers are the two ways a follower waits: on inotify events, and by
// looking every followPoll (inotify unavailable).
var wakers = []struct {
	name string
	make func(t *testing.T, path string) *waker
}{
	{"inotify", func(t *testing.T, path string) *waker {
		w, err := newWaker(path)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}},
	{"poll", func(t *testing.T, path string) *waker { return &waker{name: filepath.Base(path)} }},
}

// following follows path from its current end with w until the test ends,
// and checks then that the follower stopped at once and without error.
func following(t *testing.T, path string, w *waker) (out, notes *testchild.Buffer) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, notes = &testchild.Buffer{}, &testchild.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- newFollower(path, f, st.Size(), out, notes).run(ctx, w) }()
	t.Cleanup(func() {
		defer w.close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("follower: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("follower still running 10s after its context was cancelled")
		}
	})
	return out, notes
}

// renamingWriter rotates the way resreap's output files do (and
// lumberjack, logrotate's create mode): rename the live file aside, then
// create a new one.
type renamingWriter struct {
	path string
	f    *os.File
	n    int
}

func (w *renamingWriter) Write(b []byte) (int, error) {
	if w.f == nil {
		f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return 0, err
		}
		w.f = f
	}
	return w.f.Write(b)
}

func (w *renamingWriter) Rotate() error {
	w.n++
	if err := os.Rename(w.path, fmt.Sprintf("%s.%d", w.path, w.n)); err != nil {
		return err
	}
	w.Close()
	_, err := w.Write(nil)
	return err
}

func (w *renamingWriter) Close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// Rotations (rename, then create) while lines are written and before the
// follower has read them: every line arrives, once, in order, from the
// old file and from the new one.
func TestFollowRenameRotations(t *testing.T) {
	for _, wk := range wakers {
		t.Run(wk.name, func(t *testing.T) {
			rotations := 20
			if wk.name == "poll" {
				rotations = 3 // a second each
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "fe.log")
			lj := &renamingWriter{path: path}
			defer lj.Close()
			if _, err := lj.Write([]byte("before\n")); err != nil {
				t.Fatal(err)
			}
			out, notes := following(t, path, wk.make(t, path))
			var want strings.Builder
			line := 0
			write := func(n int) {
				for range n {
					line++
					s := fmt.Sprintf("line %d\n", line)
					if _, err := lj.Write([]byte(s)); err != nil {
						t.Fatal(err)
					}
					want.WriteString(s)
				}
			}
			for range rotations {
				write(30) // not waited for: the rotation comes before they are read
				if err := lj.Rotate(); err != nil {
					t.Fatal(err)
				}
				write(5)
				waitOutput(t, out, want.String())
			}
			if n := strings.Count(notes.String(), "was replaced (rotated)"); n != rotations {
				t.Errorf("%d rotations noted, want %d:\n%s", n, rotations, notes.String())
			}
			t.Logf("%s: %d lines across %d rotations, none lost", wk.name, line, rotations)
		})
	}
}

// logrotate's create mode: the file is renamed, the writer goes on in the
// renamed file (ending on half a line) until the new file is created.
// The old file's last lines come first, the half line ended, then the
// new file's.
func TestFollowOldFileWrittenAfterRename(t *testing.T) {
	for _, wk := range wakers {
		t.Run(wk.name, func(t *testing.T) {
			dir := t.TempDir()
			path, old := filepath.Join(dir, "fe.log"), filepath.Join(dir, "fe.log.1")
			appendTo(t, path, "old 1\n")
			out, _ := following(t, path, wk.make(t, path))
			appendTo(t, path, "old 2\n")
			waitOutput(t, out, "old 2\n")
			if err := os.Rename(path, old); err != nil {
				t.Fatal(err)
			}
			appendTo(t, old, "late 1\nhalf a li")
			appendTo(t, path, "new 1\n")
			waitOutput(t, out, "old 2\nlate 1\nhalf a li\nnew 1\n")
		})
	}
}

// logrotate's copytruncate: the file is copied and truncated in place;
// the follower starts again from its start and says so.
func TestFollowTruncation(t *testing.T) {
	for _, wk := range wakers {
		t.Run(wk.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fe.log")
			appendTo(t, path, "old 1\n")
			out, notes := following(t, path, wk.make(t, path))
			appendTo(t, path, "before truncation\n")
			waitOutput(t, out, "before truncation\n")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendTo(t, path, "after 1\n")
			waitOutput(t, out, "before truncation\nafter 1\n")
			if !strings.Contains(notes.String(), "was truncated") {
				t.Errorf("notes %q: the truncation is not said", notes.String())
			}
		})
	}
}

// logs -f on a file whose directory does not exist yet: it says it polls,
// and prints the file from its start once it appears.
func TestLogsFollowFileCreatedLater(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "later", "fe.log")
	cfg := writeFile(t, dir, "resreap.toml", fmt.Sprintf(`
[[child]]
name = "fe"
command = ["/bin/true"]
stdout = { file = %q }
`, file))
	out, errOut := &testchild.Buffer{}, &testchild.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- logs(ctx, []string{"-c", cfg, "-f", "fe"}, out, errOut) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errOut.String())
		}
	}()
	waitOutput(t, errOut, fmt.Sprintf("resreap logs: inotify watch on %s: no such file or directory; looking at %s every 1s instead\n", filepath.Dir(file), file))
	if err := os.Mkdir(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	appendTo(t, file, "first\n")
	waitOutput(t, out, "first\n")
}

func TestConcernsName(t *testing.T) {
	event := func(mask uint32, name string) []byte {
		size := 0
		if name != "" {
			size = (len(name) + 1 + 15) / 16 * 16 // NUL-padded, as the kernel does
		}
		b := make([]byte, unix.SizeofInotifyEvent+size)
		binary.NativeEndian.PutUint32(b[4:], mask)
		binary.NativeEndian.PutUint32(b[12:], uint32(size))
		copy(b[unix.SizeofInotifyEvent:], name)
		return b
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, tc := range []struct {
		what string
		b    []byte
		want bool
	}{
		{"its write", event(unix.IN_MODIFY, "fe.log"), true},
		{"another file", event(unix.IN_MODIFY, "fe.log.1"), false},
		{"a prefix of it", event(unix.IN_MODIFY, "fe"), false},
		{"its rename among others", cat(event(unix.IN_MODIFY, "db.log"), event(unix.IN_MOVED_FROM, "fe.log")), true},
		{"others only", cat(event(unix.IN_MODIFY, "db.log"), event(unix.IN_CREATE, "x")), false},
		{"overflow", event(unix.IN_Q_OVERFLOW, ""), true},
		{"the directory itself", event(unix.IN_IGNORED, ""), true},
		{"cut short", event(unix.IN_MODIFY, "fe.log")[:20], true},
		{"nothing", nil, false},
	} {
		if have := concernsName(tc.b, "fe.log"); have != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, have, tc.want)
		}
	}
}
