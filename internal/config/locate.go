//go:build linux

package config

import (
	"regexp"
	"strconv"
	"strings"
)

// keyLines maps key paths of a TOML file to the line that defines them, so
// that validation errors found after decoding can name file:line. Paths
// are dotted, with the index of an array of tables: "child.1.stop.signals".
// Keys of an inline table get the line of the inline table.
type keyLines map[string]int

var (
	reHeader = regexp.MustCompile(`^\[\[?\s*([A-Za-z0-9_.\-" ]+?)\s*\]\]?`)
	reKey    = regexp.MustCompile(`^([A-Za-z0-9_\-."]+)\s*=`)
)

// locateKeys does a light scan of a TOML document: table headers, keys at
// the start of a line and keys of inline tables. It does not validate; the
// TOML decoder has done that by the time it runs.
func locateKeys(src string) keyLines {
	lines := keyLines{}
	arrays := map[string]int{} // array-of-tables name -> current index
	prefix := ""
	depth := 0 // open brackets of a multi-line value
	for i, raw := range strings.Split(src, "\n") {
		n := i + 1
		line := strings.TrimSpace(stripComment(raw))
		if line == "" {
			continue
		}
		if depth > 0 {
			depth += bracketDelta(line)
			continue
		}
		if m := reHeader.FindStringSubmatch(line); m != nil && strings.HasPrefix(line, "[") {
			name := strings.ReplaceAll(m[1], " ", "")
			if strings.HasPrefix(line, "[[") {
				arrays[name]++
				prefix = name + "." + strconv.Itoa(arrays[name]-1)
			} else {
				prefix = resolveArrays(name, arrays)
			}
			setLine(lines, prefix, n)
			continue
		}
		m := reKey.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key := join(prefix, strings.ReplaceAll(m[1], `"`, ""))
		setLine(lines, key, n)
		rest := line[len(m[0]):]
		for _, k := range inlineKeys(rest) {
			setLine(lines, key+"."+k, n)
		}
		depth = bracketDelta(rest)
		if depth < 0 {
			depth = 0
		}
	}
	return lines
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

// resolveArrays turns "child.health" into "child.3.health" when child is an
// array of tables whose current element is 3.
func resolveArrays(name string, arrays map[string]int) string {
	parts := strings.Split(name, ".")
	var out []string
	for i, p := range parts {
		out = append(out, p)
		if idx, ok := arrays[strings.Join(parts[:i+1], ".")]; ok {
			out = append(out, strconv.Itoa(idx-1))
		}
	}
	return strings.Join(out, ".")
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// inlineKeys returns the keys of the inline tables in a value (what
// follows "key ="), each as a path below that key:
// `{ a = 1, b = { c = [2, 3] } }` gives a, b and b.c.
func inlineKeys(value string) []string {
	var keys []string
	var tables []string // the path of each open inline table
	start := -1         // where a key may begin: after { or , of a table
	outsideStrings(value, func(i int, c byte) bool {
		switch c {
		case '{':
			path := ""
			if len(keys) > 0 && len(tables) > 0 {
				path = keys[len(keys)-1] // the table is the last key's value
			}
			tables = append(tables, path)
			start = i + 1
		case '}':
			if len(tables) > 0 {
				tables = tables[:len(tables)-1]
			}
			start = -1
		case '[', ']':
			start = -1 // an array's commas separate values, not keys
		case ',':
			if len(tables) > 0 {
				start = i + 1
			}
		case '=':
			if start >= 0 && len(tables) > 0 {
				k := strings.ReplaceAll(strings.TrimSpace(value[start:i]), `"`, "")
				keys = append(keys, join(tables[len(tables)-1], k))
			}
			start = -1
		}
		return true
	})
	return keys
}

// stripComment drops a trailing # comment that is not inside a string.
func stripComment(s string) string {
	end := len(s)
	outsideStrings(s, func(i int, c byte) bool {
		if c == '#' {
			end = i
			return false
		}
		return true
	})
	return s[:end]
}

// bracketDelta counts opening minus closing brackets outside strings.
func bracketDelta(s string) int {
	d := 0
	outsideStrings(s, func(_ int, c byte) bool {
		switch c {
		case '[', '{':
			d++
		case ']', '}':
			d--
		}
		return true
	})
	return d
}

// outsideStrings calls fn with every byte of s that is not inside a quoted
// TOML string (basic "..." with escapes, or literal '...'), until fn
// returns false.
func outsideStrings(s string, fn func(i int, c byte) bool) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case !fn(i, c):
			return
		}
	}
}
