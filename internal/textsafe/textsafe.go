//go:build linux

// Package textsafe makes text from outside resreap safe to print on a
// terminal: a child's name, command and output, a hook's output, an
// error naming a path, the evidence of a verdict. A terminal acts on
// some of the bytes it is given (ESC starts a sequence that can move the
// cursor, clear the screen, set the window title or, on some terminals,
// answer back into the input; a C1 CSI does the same in one character;
// a bidirectional override makes text read in another order), so a line
// carrying them can hide or forge what an operator reads in `status`,
// `history` or the log.
//
// Escape shows each such character the way Go source would write it,
// "\x1b", "\n", "\u009b", and keeps everything else, printable UTF-8
// included, as it is:
//
//	textsafe.Escape("fe\x1b[2J") == `fe\x1b[2J`
//	textsafe.Escape("café 日本") == "café 日本"
//
// A backslash is kept too, so Escape is idempotent (escaping an escaped
// line changes nothing) and a reader cannot tell an escaped ESC from the
// four characters `\x1b` written by the child: the aim is a safe
// terminal, not a reversible encoding. Output meant for programs (JSON,
// the history file, a child's own output file) keeps its bytes; JSON
// escapes control characters itself.
//
// Config, history, health, the supervisor, the control socket and the
// commands all import it: it imports nothing of resreap's.
package textsafe

import (
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every character a terminal could act on escaped:
// C0 controls and DEL as "\n", "\t", "\x1b" and so on, each byte that is
// not valid UTF-8 as "\xff", and every other rune that is not graphic
// (C1 controls, format characters such as U+202E RIGHT-TO-LEFT OVERRIDE or
// U+200B ZERO WIDTH SPACE, line and paragraph separators, private-use and
// unassigned code points) as "\u009b" or "\U000e0001". Letters, marks,
// numbers, punctuation, symbols and spaces are kept. s is returned as it
// is, without a copy, when nothing needs escaping.
func Escape(s string) string {
	i := safePrefix(s)
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	return string(appendEscape(b, s[i:]))
}

// AppendEscape appends b, escaped as Escape escapes a string, to dst and
// returns the extended buffer. It is Escape for a hot path (a child's
// output, line by line) that already holds bytes and a buffer to reuse.
func AppendEscape(dst, b []byte) []byte {
	return appendEscape(dst, b)
}

// safePrefix returns the length of the longest prefix of s that needs no
// escaping: len(s) for a safe s.
func safePrefix[T string | []byte](s T) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return i
		}
		r, size := decodeRune(s[i:])
		if !keep(r, size) {
			return i
		}
		i += size
	}
	return len(s)
}

// appendEscape appends s to dst, its safe runs copied whole and each
// character between them escaped.
func appendEscape[T string | []byte](dst []byte, s T) []byte {
	for len(s) > 0 {
		n := safePrefix(s)
		dst = append(dst, s[:n]...)
		if n == len(s) {
			break
		}
		c := s[n]
		if c < utf8.RuneSelf {
			dst = appendControl(dst, c)
			s = s[n+1:]
			continue
		}
		r, size := decodeRune(s[n:])
		if size == 1 { // not UTF-8: the byte itself
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
		} else {
			dst = appendRune(dst, r)
		}
		s = s[n+size:]
	}
	return dst
}

// keep says whether the rune r, size bytes long as decoded, is printed as
// it is: a graphic character (Unicode's L, M, N, P, S and Zs), not a
// decoding error. An encoded U+FFFD is kept: it is a graphic character
// that was written as such.
func keep(r rune, size int) bool {
	return !(r == utf8.RuneError && size == 1) && unicode.IsGraphic(r)
}

// decodeRune decodes the first rune of s. A []byte is converted four
// bytes at most, which the compiler does without allocating.
func decodeRune[T string | []byte](s T) (rune, int) {
	return utf8.DecodeRuneInString(string(s[:min(len(s), utf8.UTFMax)]))
}

const hex = "0123456789abcdef"

// appendControl escapes an ASCII control character (or DEL) as Go
// source writes it: the named escapes first, "\x1b" for the rest.
func appendControl(dst []byte, c byte) []byte {
	switch c {
	case '\a':
		return append(dst, `\a`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	case '\v':
		return append(dst, `\v`...)
	}
	return append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
}

// appendRune escapes a valid rune that is not graphic: "\u009b", or
// "\U000e0001" beyond the basic plane.
func appendRune(dst []byte, r rune) []byte {
	if r < 0x10000 {
		return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	dst = append(dst, '\\', 'U')
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hex[r>>uint(shift)&0xf])
	}
	return dst
}
