//go:build linux

package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// timeLayout is RFC 3339 with exactly three fractional digits. A fixed width
// keeps the file readable and sortable as text; milliseconds are finer than
// anything a supervisor decides on.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// formatTime renders t in UTC with millisecond precision, as every time in
// the history file is written.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// MarshalJSON writes the record with its Time in UTC at millisecond
// precision (2026-11-25T10:00:00.123Z); the other fields as tagged.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record // same fields, no methods: no recursion
	return marshalNoEscape(struct {
		Time string `json:"time"` // shadows plain.Time
		plain
	}{formatTime(r.Time), plain(r)})
}

// MarshalJSON writes the signal time like Record.Time.
func (s SignalSent) MarshalJSON() ([]byte, error) {
	type plain SignalSent
	return marshalNoEscape(struct {
		plain
		Time string `json:"time"` // after signal, as declared
	}{plain(s), formatTime(s.Time)})
}

// marshalNoEscape is json.Marshal without HTML escaping: the file is read by
// people and jq, never embedded in HTML, and "exit status 1 <nil>" should
// stay legible.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// encodeLine renders rec as one line of the history file, newline included.
func encodeLine(rec Record) ([]byte, error) {
	b, err := rec.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeLine parses one line of the history file. A line that is valid JSON
// but not a record (no time or event) is rejected too: it cannot be placed
// in the timeline.
func decodeLine(b []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return Record{}, err
	}
	switch {
	case rec.Time.IsZero():
		return Record{}, fmt.Errorf("no time")
	case rec.Event == "":
		return Record{}, fmt.Errorf("no event")
	}
	return rec, nil
}
