//go:build linux

package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// timeLayout is RFC 3339 with exactly three fractional digits. A fixed width
// keeps the file readable and sortable as text; milliseconds are finer than
// anything a supervisor decides on.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// formatTime renders t in UTC with millisecond precision, as every time in
// the history file is written.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// String formats d as Go duration text ("1.503s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as Go duration text ("1.503s"), which an operator can
// read in the file without converting nanoseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, d.String()), nil
}

// UnmarshalJSON reads Go duration text ("1.503s") or a number of
// nanoseconds, so files written by other tools (or older versions that wrote
// time.Duration as a number) still load. null leaves d unchanged.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*d = Duration(v)
		return nil
	}
	// Some encoders write large integers in exponent form (1.5e+09).
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != float64(int64(f)) {
		return fmt.Errorf("duration: %s is neither duration text nor whole nanoseconds", b)
	}
	*d = Duration(int64(f))
	return nil
}

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
