//go:build linux

package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestInlineKeys(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  []string
	}{
		{`"2s"`, nil},
		{`{ a = 1, b = "x,y = z" }`, []string{"a", "b"}},
		{`{ signals = ["QUIT", "TERM"], wait = ["1s", "5s"] }`, []string{"signals", "wait"}},
		{`{ interval = "2s", close_wait = { threshold = 2, persist = 2 }, fds = { max_ratio = 0.9 } }`,
			[]string{"interval", "close_wait", "close_wait.threshold", "close_wait.persist", "fds", "fds.max_ratio"}},
		{`{ "quoted key" = 1, b = { c = { d = 2 } } }`, []string{"quoted key", "b", "b.c", "b.c.d"}},
	} {
		// The keys of the inline tables of a value are located below its
		// key, on its line.
		var have []string
		for k, line := range locateKeys("k = " + tc.value + "\n") {
			if line != 1 {
				t.Errorf("%s: %s on line %d", tc.value, k, line)
			}
			if k, ok := strings.CutPrefix(k, "k."); ok {
				have = append(have, k)
			}
		}
		slices.Sort(have)
		want := slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(have, want) {
			t.Errorf("%s: have %q, want %q", tc.value, have, want)
		}
	}
}

// locateDoc holds what a scanner of TOML may stumble on.
const locateDoc = `# a "quote and [brackets] in a comment
title = "a # not a comment" # comment
s = """
not = "a key"
[not.a.table]
""" # the string ends here: """"
lit = '''
also = not
'''
arr = [
  1, # comment ]
  { x = 1, y = { z = 2 } },
  [ { w = 3 } ],
]
"quoted.key" = 1
'lit key' . bare = "\u0041"
"esc\u0041\"d" = 1
[[child]]
name = "a"
stop = { signals = ["TERM"],
  wait = "2s" }
[child.health]
interval = "1s"
[[child.sub]]
k = 1
[[child]]
name = "b"
[[child.sub]]
k = 2
[ tbl . "x y" ] # table
d = 1979-05-27 07:32:00Z
e = { f = 1 }
`

// What a line scanner would take for a key or a header inside strings and
// comments is none; arrays and inline tables over several lines, arrays
// of tables in arrays of tables, quoted and dotted keys are located with
// their paths and lines.
func TestLocateKeys(t *testing.T) {
	src := locateDoc
	want := keyLines{
		"title": 2, "s": 3, "lit": 7, "arr": 10, "arr.1.x": 12, "arr.1.y": 12, "arr.1.y.z": 12, "arr.2.0.w": 13,
		"quoted.key": 15, "lit key.bare": 16, `escA"d`: 17,
		"child.0": 18, "child.0.name": 19, "child.0.stop": 20, "child.0.stop.signals": 20, "child.0.stop.wait": 21,
		"child.0.health": 22, "child.0.health.interval": 23, "child.0.sub.0": 24, "child.0.sub.0.k": 25,
		"child.1": 26, "child.1.name": 27, "child.1.sub.0": 28, "child.1.sub.0.k": 29,
		"tbl.x y": 30, "tbl.x y.d": 31, "tbl.x y.e": 32, "tbl.x y.e.f": 32,
	}
	if _, err := toml.Decode(src, new(map[string]any)); err != nil {
		t.Fatalf("the document is not TOML: %v", err)
	}
	if have := locateKeys(src); !maps.Equal(have, want) {
		for _, k := range slices.Sorted(maps.Keys(have)) {
			if want[k] != have[k] {
				t.Errorf("%q: line %d, want %d", k, have[k], want[k])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if _, ok := have[k]; !ok {
				t.Errorf("%q not located (want line %d)", k, want[k])
			}
		}
	}
	// Windows line ends and a byte order mark count no line.
	if have := locateKeys("\uFEFFa = 1\r\n[t]\r\nb = 2\r\n"); !maps.Equal(have, keyLines{"a": 1, "t": 2, "t.b": 3}) {
		t.Errorf("with CRLF and a BOM: %v", have)
	}
}

// Whatever it is given, the locator ends, and a document that is not TOML
// loses no more than the keys after where it breaks.
func TestLocateKeysBroken(t *testing.T) {
	for _, src := range []string{"", "[", "[[", "a", "a =", `"a`, `a = "b`, `a = """`, `a = '''x`, "a = [", "a = {", "a = [1,,2]",
		"a = {b = 1,, c = 2}", `"\`, `"\u12"=1`, "a.=1", "[a.]", "]]", "a = { b = [ { c = {", "= 1\nb = 2"} {
		locateKeys(src)
	}
	if have := locateKeys("a = \"b\nc = 1\n"); have["c"] != 2 {
		t.Errorf("after an unclosed string: %v", have)
	}
}

// Every key the decoder finds in the bundled configs, the README's
// examples, the fuzz seeds and corpus and TestLocateKeys's document is
// located, with its element indexes, and at the line the decoder itself
// keeps for it. The decoder shows that line only in the text of a type
// mismatch (see decodeProblem), and keeps one line per key without
// indexes, that of its last element: so a document is decoded once per
// key into a type made for it, whose field at the key takes no value.
func TestLocateEveryKey(t *testing.T) {
	docs := map[string]string{"locateDoc": locateDoc}
	readFiles(t, docs, "../../configs/*.toml", func(b []byte) (string, error) { return string(b), nil })
	readFiles(t, docs, "testdata/fuzz/Fuzz*/*", fuzzInput)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, block := range strings.Split(string(readme), "```toml\n")[1:] {
		docs[fmt.Sprintf("README.md block %d", i+1)], _, _ = strings.Cut(block, "```")
	}
	for i, s := range parseSeeds {
		docs[fmt.Sprintf("seed %d", i)] = s
	}
	n := 0
	for name, src := range docs {
		md, err := toml.Decode(src, new(map[string]any))
		if err != nil {
			continue // not TOML: nothing is located
		}
		n += checkLocated(t, name, src, md)
	}
	if n < 100 {
		t.Errorf("%d keys checked", n)
	}
}

// readFiles adds the files pattern matches, at least one, to docs, each
// as text makes it.
func readFiles(t *testing.T, docs map[string]string, pattern string, text func([]byte) (string, error)) {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		t.Fatalf("no %s", pattern)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			docs[f], err = text(b)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// fuzzInput is the one argument a file of a fuzz corpus holds:
// "go test fuzz v1" and a line []byte("...") or string("...").
func fuzzInput(b []byte) (string, error) {
	_, arg, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	_, quoted, _ := strings.Cut(arg, "(")
	return strconv.Unquote(strings.TrimSuffix(quoted, ")"))
}

// checkLocated checks the lines locateKeys gives the keys of src against
// the decoder's, and returns how many keys it checked.
func checkLocated(t *testing.T, name, src string, md toml.MetaData) int {
	t.Helper()
	lines := locateKeys(src)
	elems := map[string]int{} // arrays of tables: elements so far, by path
	last := map[string]string{}
	for _, k := range md.Keys() {
		if underArray(md, k) {
			// In an array value, not an array of tables: the decoder
			// lists its keys without a sign of the element they are in.
			if !slices.ContainsFunc(slices.Collect(maps.Keys(lines)), func(p string) bool { return withIndexes(strings.Split(p, "."), k) }) {
				t.Errorf("%s: %s not located", name, k)
			}
			continue
		}
		path := ""
		for i := range k {
			path = join(path, k[i])
			if md.Type(k[:i+1]...) == "ArrayHash" {
				if i == len(k)-1 {
					elems[path]++
				}
				path += "." + strconv.Itoa(elems[path]-1)
			}
		}
		if _, ok := lines[path]; !ok {
			t.Errorf("%s: %s (%s) not located", name, k, path)
		}
		last[k.String()] = path
	}
	checked := map[string]bool{}
	for _, k := range md.Keys() {
		if _, ok := last[k.String()]; !ok || checked[k.String()] {
			continue
		}
		checked[k.String()] = true
		key, line, ok := decoderLine(src, md, k)
		if !ok {
			continue
		}
		// The decoder names the key it failed on: k, or a key of the
		// same table that differs from it only in case.
		path := last[key]
		if lines[path] == 0 {
			continue // not located: reported above
		}
		if text := strings.Split(src, "\n")[lines[path]-1]; line > lines[path] && md.Type(k...) == "String" &&
			(strings.Contains(text, `"""`) || strings.Contains(text, "'''")) {
			continue // the decoder keeps the line where a multi-line string ends
		}
		if lines[path] != line {
			t.Errorf("%s: %s at line %d, the decoder says %d", name, path, lines[path], line)
		}
	}
	return len(md.Keys())
}

// withIndexes reports whether path is key with indexes added.
func withIndexes(path, key []string) bool {
	switch {
	case len(path) == 0:
		return len(key) == 0
	case len(key) > 0 && path[0] == key[0] && withIndexes(path[1:], key[1:]):
		return true
	}
	_, err := strconv.Atoi(path[0])
	return err == nil && withIndexes(path[1:], key)
}

// underArray reports whether k is inside an array value.
func underArray(md toml.MetaData, k toml.Key) bool {
	for i := 1; i < len(k); i++ {
		if md.Type(k[:i]...) == "Array" {
			return true
		}
	}
	return false
}

// decoderLine decodes src into a type made for k: a table for each part
// (a slice of tables where the document has an array of tables), and at
// k a field that takes no value, a channel. The decoder's error names the
// key and its line. ok is false for a key no struct tag can name.
func decoderLine(src string, md toml.MetaData, k toml.Key) (key string, line int, ok bool) {
	typ := reflect.TypeFor[chan int]()
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == "" || k[i] == "-" || strings.Contains(k[i], ",") {
			return "", 0, false
		}
		typ = reflect.StructOf([]reflect.StructField{{Name: "F", Type: typ, Tag: reflect.StructTag("toml:" + strconv.Quote(k[i]))}})
		if i > 0 && md.Type(k[:i]...) == "ArrayHash" {
			typ = reflect.SliceOf(typ)
		}
	}
	_, err := toml.Decode(src, reflect.New(typ).Interface())
	if err == nil {
		return "", 0, false
	}
	if _, serr := fmt.Sscanf(err.Error(), "toml: line %d", &line); serr != nil {
		return "", 0, false
	}
	key, _ = decoderMessage(err.Error())
	return key, line, true
}

// A value of the wrong type is reported at the line of its key, in the
// element of the array of tables that holds it, whichever element the
// decoder's own line names (that of the last element's key).
func TestDecodeProblemLine(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want Problem
	}{
		{"[[child]]\nname = \"a\"\ncommand = 5\n[[child]]\nname = \"b\"\ncommand = [\"x\"]\n",
			Problem{Line: 3, Key: "child.command", Msg: "incompatible types: TOML value has type int64; destination has type slice"}},
		{"[[child]]\nname = \"a\"\ncommand = [\"x\"]\n[[child]]\nname = \"b\"\ncommand = [\"x\"]\nstop = { signals = \"TERM\" }\n[[child]]\nstop = { signals = [\"TERM\"] }\n",
			Problem{Line: 7, Key: "child.stop.signals", Msg: "incompatible types: TOML value has type string; destination has type slice"}},
		{"[[child]]\nname = \"a\"\ncommand = [\"x\"]\n[[group]]\nname = 1\nmembers = [\"a\"]\n[[group]]\nname = \"g\"\n",
			Problem{Line: 5, Key: "group.name", Msg: "incompatible types: TOML value has type int64; destination has type string"}},
		{"[supervisor]\n\nhistory_keep = \"x\"\n[[child]]\nname = \"a\"\ncommand = [\"x\"]\n",
			Problem{Line: 3, Key: "supervisor.history_keep", Msg: "incompatible types: TOML value has type string; destination has type integer"}},
		{"[[child]]\nname = \"a\"\ncommand = [\"x\"]\nhealth = 3\n",
			Problem{Line: 4, Key: "child.health", Msg: "type mismatch for config.fileHealth: expected table but found int64"}},
		{"[[child]]\nname = \"a\ncommand = [\"x\"]\n", // not TOML: where the decoder stopped
			Problem{Line: 2, Key: "child.name", Msg: "strings cannot contain newlines"}},
	} {
		_, err := Parse("x.toml", []byte(tc.src))
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) != 1 || e.Problems[0] != tc.want {
			t.Errorf("%q: %v, want %+v", tc.src, err, tc.want)
		}
	}
	for _, tc := range []struct{ text, key, msg string }{
		{`toml: line 3 (last key "child.command"): bad`, "child.command", "bad"},
		{`toml: (last key "a.\"b.c\""): bad`, `a."b.c"`, "bad"},
		{`toml: cannot decode to type int`, "", "toml: cannot decode to type int"},
		{`toml: line 3 (last key "x`, "", `toml: line 3 (last key "x`},
	} {
		if key, msg := decoderMessage(tc.text); key != tc.key || msg != tc.msg {
			t.Errorf("decoderMessage(%q) = %q, %q; want %q, %q", tc.text, key, msg, tc.key, tc.msg)
		}
	}
}

// A file that is not TOML is read line by line for its [supervisor]
// tables: a header counts wherever it stands, and a line in brackets that
// is no header of theirs ends them.
func TestHeaderLine(t *testing.T) {
	for _, tc := range []struct {
		line     string
		key      []string
		isHeader bool
	}{
		{"[supervisor]", []string{"supervisor"}, true},
		{"  [ supervisor . health ]  # the reader", []string{"supervisor", "health"}, true},
		{`["supervisor"]`, []string{"supervisor"}, true},
		{"[[child]]\r", []string{"child"}, true},
		{"[sup ervisor]", nil, true},
		{`["a", "b"] # c`, nil, true},
		{"[1, 2],", nil, false},
		{"x = [1]", nil, false},
		{"[supervisor] x", nil, false},
		{"", nil, false},
	} {
		key, ok := headerLine(tc.line)
		if !slices.Equal(key, tc.key) || ok != tc.isHeader {
			t.Errorf("headerLine(%q) = %q, %v; want %q, %v", tc.line, key, ok, tc.key, tc.isHeader)
		}
	}
	src := "[[child]]\ncommand = [\n[supervisor]\ncontrol_socket = \"/run/x.sock\"\n[ supervisor.health ]\nreader = \"proc\"\n[chi ld]\nx = 1\n"
	want := "\n\n[supervisor]\ncontrol_socket = \"/run/x.sock\"\n[ supervisor.health ]\nreader = \"proc\"\n\n\n"
	if have := supervisorTables(src); have != want {
		t.Errorf("supervisorTables:\n%q\nwant\n%q", have, want)
	}
}

// FuzzLocateKeys: on any text the locator ends without a panic, and on a
// document the decoder accepts it locates every key at the decoder's line.
func FuzzLocateKeys(f *testing.F) {
	for _, s := range append(parseSeeds, locateDoc) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		lines := locateKeys(src)
		if md, err := toml.Decode(src, new(map[string]any)); err == nil {
			checkLocated(t, "fuzz", src, md)
		} else if len(lines) > strings.Count(src, "=")+strings.Count(src, "[") {
			t.Errorf("%d keys in %q", len(lines), src)
		}
	})
}
