//go:build linux

package main

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
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
