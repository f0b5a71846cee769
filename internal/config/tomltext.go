//go:build linux

package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The pieces of TOML text the locator reads: keys, strings, blanks,
// comments, line ends.

// key reads a dotted key: bare, "basic" or 'literal' parts, with blanks
// around the dots.
func (l *locator) key() ([]string, bool) {
	var parts []string
	for {
		l.skipBlanks()
		part, ok := l.keyPart()
		if !ok {
			return nil, false
		}
		parts = append(parts, part)
		l.skipBlanks()
		if l.peek() != '.' {
			return parts, true
		}
		l.pos++
	}
}

// keyPart reads one part of a key, its escapes decoded.
func (l *locator) keyPart() (string, bool) {
	start := l.pos
	switch c := l.peek(); {
	case c == '"' || c == '\'':
		if l.skipString() != 1 {
			return "", false // unclosed, or a multi-line string: no key
		}
		raw := l.src[start+1 : l.pos-1]
		if c == '\'' {
			return raw, true
		}
		return unescape(raw)
	case isBare(c):
		for isBare(l.peek()) {
			l.pos++
		}
		return l.src[start:l.pos], true
	}
	return "", false
}

func isBare(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// skipString passes over the string at pos, of any of TOML's four kinds,
// and returns the length of its quotes (1 or 3), or 0 when it is not
// closed: a one-line string then ends at the end of its line, a
// multi-line one at the end of src.
func (l *locator) skipString() int {
	q := l.src[l.pos]
	quotes := string([]byte{q, q, q})
	if !strings.HasPrefix(l.src[l.pos:], quotes) {
		for l.pos++; l.pos < len(l.src); l.pos++ {
			switch c := l.src[l.pos]; {
			case c == q:
				l.pos++
				return 1
			case c == '\n':
				return 0
			case c == '\\' && q == '"':
				l.pos++ // the escaped byte
			}
		}
		l.pos = len(l.src)
		return 0
	}
	for l.pos += 3; l.pos < len(l.src); l.pos++ {
		switch c := l.src[l.pos]; {
		case strings.HasPrefix(l.src[l.pos:], quotes):
			// Up to two quotes may end the content: """a"""" is `a"`.
			l.pos += 3
			for i := 0; i < 2 && l.peek() == q; i++ {
				l.pos++
			}
			return 3
		case c == '\\' && q == '"':
			l.pos++ // the escaped byte
		}
	}
	l.pos = len(l.src)
	return 0
}

// skipBlanks passes over spaces and tabs.
func (l *locator) skipBlanks() {
	for c := l.peek(); c == ' ' || c == '\t'; c = l.peek() {
		l.pos++
	}
}

// skipSpace passes over blanks, line ends and comments, as between the
// elements of an array.
func (l *locator) skipSpace() {
	for {
		switch l.peek() {
		case ' ', '\t', '\r', '\n':
			l.pos++
		case '#':
			l.skipLine()
		default:
			return
		}
	}
}

// skipLine passes over the rest of the line and its end.
func (l *locator) skipLine() {
	if i := strings.IndexByte(l.src[l.pos:], '\n'); i >= 0 {
		l.pos += i + 1
	} else {
		l.pos = len(l.src)
	}
}

// unescape decodes the escapes of a basic string's content (TOML 1.1's
// \e and \xHH included).
func unescape(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		i++
		if r, ok := simpleEscapes[s[i]]; ok {
			b.WriteByte(r)
			continue
		}
		digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i]]
		if digits == 0 || i+digits >= len(s) {
			return "", false
		}
		n, err := strconv.ParseUint(s[i+1:i+1+digits], 16, 32)
		if err != nil || !utf8.ValidRune(rune(n)) {
			return "", false
		}
		b.WriteRune(rune(n))
		i += digits
	}
	return b.String(), true
}

var simpleEscapes = map[byte]byte{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', 'e': 0x1b, '"': '"', '\\': '\\'}

// parseKey reads a dotted key as written in a file or as the decoder
// spells it (toml.Key's String: "child.stop", `a."b.c"`).
func parseKey(s string) ([]string, bool) {
	l := &locator{src: s}
	key, ok := l.key()
	return key, ok && l.pos == len(s)
}

// headerLine reports whether line is a table header, "[a.b]" or
// "[[a.b]]" with maybe a comment after it, and returns its key, or nil
// when the name between the brackets is no key. It reads one line alone,
// for a file that is not TOML as a whole (see supervisorTables).
func headerLine(line string) (key []string, ok bool) {
	l := &locator{src: line}
	l.skipBlanks()
	if l.peek() != '[' {
		return nil, false
	}
	if key, _, isKey := l.headerKey(); isKey {
		l.skipBlanks()
		if c := l.peek(); c == 0 || c == '#' || c == '\r' {
			return key, true
		}
	}
	// Something else in brackets: a header all the same when the line
	// ends with its bracket (a comment aside), as a broken header of
	// another table.
	end := len(line)
	for l.pos = 0; l.pos < end; {
		switch l.peek() {
		case '"', '\'':
			l.skipString()
		case '#':
			end = l.pos
		default:
			l.pos++
		}
	}
	return nil, strings.HasSuffix(strings.TrimRight(line[:end], " \t\r"), "]")
}
