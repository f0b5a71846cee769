//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The console log shows what a log line carries from outside (in the
// message, a string field, an error, an array, an object) escaped: no
// byte a terminal acts on but the colors of the writer itself.
func TestConsoleLogEscapes(t *testing.T) {
	for _, noColor := range []string{"", "1"} {
		t.Setenv("NO_COLOR", noColor)
		var buf bytes.Buffer
		log, closeLog, err := newLogger(&buf, "console", false)
		if err != nil {
			t.Fatal(err)
		}
		log.Info().
			Str("child", "c\x1b]0;pwned\a").
			Err(errors.New("open /x\x1b[2J: no such file")).
			Strs("command", []string{"/bin/a\x7f", "b\u009b"}).
			Interface("evidence", map[string]any{"probe\x1b": "p\u0085"}).
			Msg("w failed to start: exec /opt/\x1b]0;pwned\a\u009b\xff")
		closeLog()
		out := buf.String()
		plain := regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(out, "") // the writer's own colors
		if noColor != "" && plain != out {
			t.Errorf("NO_COLOR=%s: colors in %q", noColor, out)
		}
		if i := strings.IndexFunc(plain, terminalControl); i >= 0 {
			t.Errorf("NO_COLOR=%q: raw control character at %d:\n%q", noColor, i, out)
		}
		for _, want := range []string{
			// The message; zerolog's JSON has made the byte 0xff U+FFFD.
			`w failed to start: exec /opt/\x1b]0;pwned\a\u009b` + "\ufffd",
			`"c\x1b]0;pwned\a"`,              // a string field, quoted by the writer
			`"open /x\x1b[2J: no such file"`, // the error
			`"/bin/a\\x7f"`, `"b\\u009b"`,    // an array, as JSON
			`"probe\\x1b"`, `"p\\u0085"`, // an object
		} {
			if !strings.Contains(plain, want) {
				t.Errorf("NO_COLOR=%q: no %s in\n%s", noColor, want, plain)
			}
		}
	}
}

// openPTY returns both ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// The console log is coloured on a terminal only, and there only without
// NO_COLOR: a file, a pipe or a journal gets no escape codes.
func TestConsoleLogColour(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		noColor  string
		colour   bool
	}{
		{"terminal", true, "", true},
		{"terminal with NO_COLOR", true, "1", false},
		{"file", false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			if tc.noColor == "" {
				os.Unsetenv("NO_COLOR")
			}
			var w *os.File
			var read func() string
			if tc.terminal {
				m, s := openPTY(t)
				w = s
				read = func() string {
					buf := make([]byte, 4096)
					m.SetReadDeadline(time.Now().Add(10 * time.Second))
					n, _ := m.Read(buf)
					return string(buf[:n])
				}
			} else {
				f, err := os.Create(filepath.Join(t.TempDir(), "log"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				w = f
				read = func() string { b, _ := os.ReadFile(f.Name()); return string(b) }
			}
			log, closeLog, err := newLogger(w, "console", false)
			if err != nil {
				t.Fatal(err)
			}
			log.Warn().Str("child", "a").Msg("hello")
			closeLog()
			out := read()
			if !strings.Contains(out, "hello") {
				t.Fatalf("no log line: %q", out)
			}
			if have := strings.Contains(out, "\x1b["); have != tc.colour {
				t.Errorf("colour %v, want %v: %q", have, tc.colour, out)
			}
		})
	}
}
