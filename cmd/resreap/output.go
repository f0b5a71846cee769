//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// writeJSON writes v as one line of JSON (JSON Lines: a command that
// prints several results prints one line each), without HTML escaping:
// it is read by jq and people, never embedded in a page.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// count says n things, singular or plural: "1 child", "3 children".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// jsonLines is resreap logs --json: it turns the bytes written to it into
// one JSON object per line, {"child", "stream", "line"}, the line
// without its newline. A line is written once its newline comes; flush
// writes an unfinished last one. Bytes that are not UTF-8 become U+FFFD,
// as JSON strings must be text.
type jsonLines struct {
	w             io.Writer
	child, stream string
	part          []byte // the line begun and not ended yet
}

func (j *jsonLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			j.part = append(j.part, p...)
			break
		}
		j.part = append(j.part, p[:i]...)
		p = p[i+1:]
		if err := j.line(); err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// flush writes the line begun, if any.
func (j *jsonLines) flush() error {
	if len(j.part) == 0 {
		return nil
	}
	return j.line()
}

func (j *jsonLines) line() error {
	err := writeJSON(j.w, struct {
		Child  string `json:"child"`
		Stream string `json:"stream"`
		Line   string `json:"line"`
	}{j.child, j.stream, string(j.part)})
	j.part = j.part[:0]
	return err
}
