//go:build linux

package config

import (
	"strconv"
	"strings"
)

// keyLines maps key paths of a TOML file to the line that defines them, so
// that problems found after decoding can name file:line. Paths are dotted,
// with the index of each element of an array of tables or of an array
// value: "child.1.stop.signals". A table header has the line of the
// header, a key (of a table or an inline table) the line of the key.
type keyLines map[string]int

// BurntSushi/toml keeps the position of every key it parses but gives
// none away: MetaData has Keys, Type and IsDefined, a ParseError's
// Position is where the text stops parsing, and an error about a value (a
// type mismatch) names the key without the element of an array of tables
// it is in, at the line of that key in the last element. So the lines come
// from the one scanner below, which reads a document the decoder has
// accepted: table headers, keys, and inside values only what can hide or
// hold a key (strings, arrays, inline tables). Its paths are the decoder's
// keys with element indexes added, at the decoder's lines:
// TestLocateEveryKey and FuzzLocateKeys hold it to that for every key of
// the bundled configs, the README's examples and the fuzz seeds and
// corpus. headerLine reads one line alone with it, for a file that is not
// TOML as a whole.

// locateKeys returns the line of every table header and key of src, a
// document the TOML decoder has accepted. On anything else it never
// fails: what it cannot read it passes over to the end of the line.
func locateKeys(src string) keyLines {
	l := &locator{src: strings.TrimPrefix(src, "\uFEFF"), line: 1, lines: keyLines{}, arrays: map[string]int{}}
	for l.pos < len(l.src) {
		l.skipBlanks()
		switch l.peek() {
		case '\n', '\r', '#', 0:
		case '[':
			l.header()
		default:
			l.keyValue(l.table)
		}
		l.skipLine()
	}
	return l.lines
}

// locator is the state of locateKeys.
type locator struct {
	src   string
	pos   int // the next byte to read
	lines keyLines
	// arrays counts the elements of each array of tables, by path:
	// "child", "child.0.sub".
	arrays map[string]int
	table  string // the path of the current table

	line, counted int // the line of src[counted]
}

// lineAt returns the line of src[pos]; pos never goes back between calls.
func (l *locator) lineAt(pos int) int {
	l.line += strings.Count(l.src[l.counted:pos], "\n")
	l.counted = pos
	return l.line
}

// peek returns the byte at pos, 0 at the end.
func (l *locator) peek() byte {
	if l.pos < len(l.src) {
		return l.src[l.pos]
	}
	return 0
}

// header reads "[a.b]" or "[[a.b]]" and makes it the current table.
func (l *locator) header() {
	start := l.pos
	key, array, ok := l.headerKey()
	if !ok {
		return
	}
	l.table = l.resolve(key, array)
	setLine(l.lines, l.table, l.lineAt(start))
}

// headerKey reads the brackets of a header and the key between them.
func (l *locator) headerKey() (key []string, array, ok bool) {
	array = strings.HasPrefix(l.src[l.pos:], "[[")
	closer := "]"
	if array {
		closer = "]]"
	}
	l.pos += len(closer) // the opening brackets
	key, ok = l.key()
	l.skipBlanks()
	if !ok || !strings.HasPrefix(l.src[l.pos:], closer) {
		return nil, false, false
	}
	l.pos += len(closer)
	return key, array, true
}

// resolve returns the path of a table header: "child.health" is
// "child.3.health" while child is an array of tables whose last element
// is 3, and the header of an array of tables adds an element to it.
func (l *locator) resolve(key []string, array bool) string {
	path := ""
	for i, k := range key {
		path = join(path, k)
		if array && i == len(key)-1 {
			l.arrays[path]++
		}
		if n, ok := l.arrays[path]; ok {
			path += "." + strconv.Itoa(n-1)
		}
	}
	return path
}

// keyValue reads "key = value" below the table at prefix, recording the
// key and the keys of the inline tables in the value. It reports whether
// there was a key and an "=".
func (l *locator) keyValue(prefix string) bool {
	start := l.pos
	key, ok := l.key()
	l.skipBlanks()
	if !ok || l.peek() != '=' {
		return false
	}
	l.pos++
	path := join(prefix, strings.Join(key, "."))
	setLine(l.lines, path, l.lineAt(start))
	l.skipBlanks()
	l.value(path)
	return true
}

// value passes over the value at pos, recording the keys of the inline
// tables in it below path (an element of an array adds its index).
func (l *locator) value(path string) {
	switch l.peek() {
	case '"', '\'':
		l.skipString()
	case '[':
		l.pos++
		for i := 0; ; i++ {
			l.skipSpace()
			if c := l.peek(); c == ']' || c == 0 {
				break
			}
			before := l.pos
			l.value(path + "." + strconv.Itoa(i))
			l.skipSpace()
			if l.peek() != ',' || l.pos == before {
				break
			}
			l.pos++
		}
		if l.peek() == ']' {
			l.pos++
		}
	case '{':
		l.pos++
		for {
			l.skipSpace() // TOML 1.1 lets an inline table span lines
			if c := l.peek(); c == '}' || c == 0 || !l.keyValue(path) {
				break
			}
			l.skipSpace()
			if l.peek() != ',' {
				break
			}
			l.pos++
		}
		if l.peek() == '}' {
			l.pos++
		}
	default: // a number, date, boolean, inf or nan: up to what ends a value
		for l.pos < len(l.src) && !strings.ContainsRune(",]}#\r\n", rune(l.src[l.pos])) {
			l.pos++
		}
	}
}

// exact returns the line of path or of an ancestor key below the top-level
// table: "child.0.backoff.initial" matches "child.0.backoff" (an inline
// table) but not the "child.0" header.
func (kl keyLines) exact(path string) (int, bool) {
	min := strings.Count(path, ".") - strings.Count(stripIndexes(path), ".") + 1
	for p := path; strings.Count(p, ".") >= min; p = p[:strings.LastIndexByte(p, '.')] {
		if n, ok := kl[p]; ok {
			return n, true
		}
	}
	return 0, false
}

// lineOf returns the line of the longest known prefix of path, or 0.
func (kl keyLines) lineOf(path string) int {
	for p := path; p != ""; {
		if n, ok := kl[p]; ok {
			return n
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func setLine(kl keyLines, key string, n int) {
	if _, ok := kl[key]; !ok {
		kl[key] = n
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
