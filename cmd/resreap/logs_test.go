//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
	"golang.org/x/sys/unix"
)

func TestLastLinesStart(t *testing.T) {
	for _, tc := range []struct {
		text string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 10, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"}, // a last line without its newline
		{"a\nb\nc\n", 0, ""},
		{"", 5, ""},
		{"\n\n\n", 2, "\n\n"},
		{strings.Repeat("x", 200<<10) + "\nlast\n", 1, "last\n"}, // beyond one block
	} {
		var out bytes.Buffer
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = printLastLines(&out, f, tc.n)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.want {
			t.Errorf("last %d of %.20q = %.20q, want %.20q", tc.n, tc.text, out.String(), tc.want)
		}
	}
}

// logs -f prints the last lines, then what is appended, and goes on in
// the new file after a rotation (the old one renamed, a new one created,
// as lumberjack does).
func TestLogsFollowAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fe.log")
	cfg := writeFile(t, dir, "resreap.toml", fmt.Sprintf(`
[[child]]
name = "fe"
command = ["/bin/true"]
stdout = { file = %q }
`, file))
	if err := os.WriteFile(file, []byte("old 1\nold 2\nold 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &testchild.Buffer{}
	var errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- logs(ctx, []string{"-c", cfg, "-f", "-n", "2", "fe"}, out, &errOut) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errOut.String())
		}
	}()
	waitOutput(t, out, "old 2\nold 3\n")

	appendTo(t, file, "new 1\n")
	waitOutput(t, out, "old 2\nold 3\nnew 1\n")
	if err := os.Rename(file, filepath.Join(dir, "fe-rotated.log")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, file, "after 1\nafter 2\n")
	waitOutput(t, out, "old 2\nold 3\nnew 1\nafter 1\nafter 2\n")
}

// An output file that is a FIFO (nobody writing) is refused at once, by
// logs and by logs -f, instead of waiting in open for a writer.
func TestLogsRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fe.log")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "resreap.toml", fmt.Sprintf(`
[[child]]
name = "fe"
command = ["/bin/true"]
stdout = { file = %q }
`, fifo))
	for _, args := range [][]string{{"-c", cfg, "fe"}, {"-c", cfg, "-f", "fe"}} {
		var out, errOut testchild.Buffer
		done := make(chan int, 1)
		go func() { done <- logs(context.Background(), args, &out, &errOut) }()
		select {
		case code := <-done:
			if want := "resreap logs: " + fifo + " is not a regular file (type p---------)\n"; code != 1 || errOut.String() != want {
				t.Errorf("logs %v: exit %d, %q; want exit 1, %q", args, code, errOut.String(), want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("logs %v still running after 10s", args)
		}
	}
}

// For an output that does not go to a file, logs says where it goes.
func TestLogsSaysWhereOutputGoes(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "resreap.toml", `
[[child]]
name = "fe"
command = ["/bin/true"]
stderr = "null"
`)
	var out, errOut bytes.Buffer
	if code := logs(context.Background(), []string{"-c", cfg, "fe"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), `goes to resreap's own stdout, each line prefixed with "fe | "`) {
		t.Errorf("inherit: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := logs(context.Background(), []string{"-c", cfg, "--stderr", "fe"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "discarded") {
		t.Errorf("null: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := logs(context.Background(), []string{"-c", cfg, "nope"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `no child "nope"`) {
		t.Errorf("unknown child: exit %d, %q", code, errOut.String())
	}
}

func waitOutput(t *testing.T, b *testchild.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for b.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q", b.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
