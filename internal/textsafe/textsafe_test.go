//go:build linux

package textsafe

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain ASCII", "fe-server.2 exited: exit 3", "fe-server.2 exited: exit 3"},
		{"ESC sequence", "a\x1b[2Jb", `a\x1b[2Jb`},
		{"title and bell", "\x1b]0;pwned\a", `\x1b]0;pwned\a`},
		{"named escapes", "\a\b\f\n\r\t\v", `\a\b\f\n\r\t\v`},
		{"other C0", "\x00\x01\x1f", `\x00\x01\x1f`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI", "a\u009b2Jb", `a\u009b2Jb`},
		{"C1 NEL", "\u0085", `\u0085`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"raw C1 byte", "\x9b2J", `\x9b2J`},
		{"overlong NUL", "\xc0\x80", `\xc0\x80`},
		{"surrogate half", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"bidi override", "abc\u202edef", `abc\u202edef`},
		{"zero width space", "a\u200bb", `a\u200bb`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"private use", "\ue000", `\ue000`},
		{"tag character", "\U000e0041", `\U000e0041`},
		{"accents and CJK", "café 日本語", "café 日本語"},
		{"emoji", "ok 👍", "ok 👍"},
		{"no-break space", "a\u00a0b", "a\u00a0b"},
		{"combining mark", "e\u0301", "e\u0301"},
		{"replacement character written as such", "\ufffd", "\ufffd"},
		{"backslash kept", `C:\x1b`, `C:\x1b`},
		{"quotes kept", `"a" 'b'`, `"a" 'b'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if have := Escape(tc.in); have != tc.want {
				t.Errorf("Escape(%q) = %q, want %q", tc.in, have, tc.want)
			}
			if have := string(AppendEscape([]byte("x"), []byte(tc.in))); have != "x"+tc.want {
				t.Errorf("AppendEscape(%q) = %q, want %q", tc.in, have, "x"+tc.want)
			}
		})
	}
}

// A safe string comes back as it is, without a copy; a safe line costs
// AppendEscape no allocation once its buffer is big enough.
func TestEscapeSafeTextAllocatesNothing(t *testing.T) {
	safe := strings.Repeat("fe-server | GET /api 200 café 日本 ", 20)
	if n := testing.AllocsPerRun(100, func() { _ = Escape(safe) }); n != 0 {
		t.Errorf("Escape of a safe string: %v allocations", n)
	}
	line, buf := []byte(safe+"\x1b[0m"), make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEscape(buf[:0], line) }); n != 0 {
		t.Errorf("AppendEscape into a large buffer: %v allocations", n)
	}
}

// FuzzEscape: whatever the input, the output is valid UTF-8 of graphic
// characters and spaces only, escaping it again changes nothing, and
// AppendEscape agrees with Escape.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31mred\x1b[0m", "\xff\xfe", "\u009b\u202e", "日本\t語\n", `\x1b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if !utf8.ValidString(e) {
			t.Fatalf("Escape(%q) = %q: not UTF-8", s, e)
		}
		for _, r := range e {
			if !unicode.IsGraphic(r) {
				t.Fatalf("Escape(%q) = %q keeps %U", s, e, r)
			}
		}
		if again := Escape(e); again != e {
			t.Fatalf("Escape is not idempotent: %q, then %q", e, again)
		}
		if a := AppendEscape(nil, []byte(s)); !bytes.Equal(a, []byte(e)) {
			t.Fatalf("AppendEscape(%q) = %q, Escape %q", s, a, e)
		}
		if safePrefix(s) == len(s) && e != s {
			t.Fatalf("safe %q changed to %q", s, e)
		}
	})
}

func BenchmarkAppendEscape(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"safe", strings.Repeat("GET /api/v1/items?id=42 200 12ms ", 4)},
		{"colored", strings.Repeat("\x1b[32mGET\x1b[0m /api/v1/items 200 ", 4)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			line, buf := []byte(bc.line), make([]byte, 0, 1024)
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				buf = AppendEscape(buf[:0], line)
			}
		})
	}
}
