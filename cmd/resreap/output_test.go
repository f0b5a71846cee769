//go:build linux

package main

import (
	"bytes"
	"testing"
)

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 children", 1: "1 child", 2: "2 children"} {
		if have := count(n, "child", "children"); have != want {
			t.Errorf("count(%d) = %q, want %q", n, have, want)
		}
	}
}

// logs --json: a line is written once its newline comes, in pieces or
// several at once; an unfinished last line on flush; bytes that are not
// UTF-8 as U+FFFD; HTML characters as they are.
func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	j := &jsonLines{w: &buf, child: "web", stream: "stderr"}
	for _, p := range []string{"a <b>", " & c\nsecond\nthi", "rd \xff\n", "unfinished"} {
		if n, err := j.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if err := j.flush(); err != nil {
		t.Fatal(err)
	}
	want := `{"child":"web","stream":"stderr","line":"a <b> & c"}` + "\n" +
		`{"child":"web","stream":"stderr","line":"second"}` + "\n" +
		`{"child":"web","stream":"stderr","line":"third \ufffd"}` + "\n" +
		`{"child":"web","stream":"stderr","line":"unfinished"}` + "\n"
	if buf.String() != want {
		t.Errorf("have\n%s\nwant\n%s", buf.String(), want)
	}
}
