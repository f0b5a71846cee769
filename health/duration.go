//go:build linux

package health

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Duration is a time.Duration that JSON writes as Go duration text
// ("1.503s"), which an operator reads in a file without converting
// nanoseconds. The ages in the evidence and every duration of the restart
// history use it.
type Duration time.Duration

// String formats d as Go duration text ("1.503s").
func (d Duration) String() string { return time.Duration(d).String() }

// Text formats d for a log line or a command's answer, to the precision
// that matters at its size: "800µs", "32ms", "1.2s", "12s", "1m5s".
func (d Duration) Text() string {
	v := time.Duration(d)
	switch a := v.Abs(); {
	case a < time.Millisecond:
		return v.Round(time.Microsecond).String()
	case a < time.Second:
		return v.Round(time.Millisecond).String()
	case a < time.Minute:
		return v.Round(100 * time.Millisecond).String()
	}
	return v.Round(time.Second).String()
}

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
