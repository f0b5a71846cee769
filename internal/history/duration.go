//go:build linux

package history

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MarshalJSON writes d as seconds with up to nine decimals, exactly:
// 1503ms is 1.503, 3h is 10800, 1ns is 0.000000001. The digits are made
// from the integer nanoseconds, not a float, so a record read back is
// the record written.
func (d Duration) MarshalJSON() ([]byte, error) {
	v := int64(d)
	var b []byte
	u := uint64(v)
	if v < 0 {
		b = append(b, '-')
		u = uint64(-(v + 1)) + 1 // |MinInt64| fits in a uint64
	}
	b = strconv.AppendUint(b, u/uint64(time.Second), 10)
	if frac := u % uint64(time.Second); frac != 0 {
		digits := strconv.FormatUint(frac+uint64(time.Second), 10)[1:] // nine digits, leading zeros kept
		b = append(append(b, '.'), strings.TrimRight(digits, "0")...)
	}
	return b, nil
}

// UnmarshalJSON reads seconds (a number: 5.240065511, 10800, 1.5e3) or,
// as files written before seconds hold, Go duration text
// ("5.240065511s"). Precision beyond a nanosecond is dropped. null leaves
// d unchanged.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := string(b)
	switch {
	case s == "null":
		return nil
	case strings.HasPrefix(s, `"`):
		var text string
		if err := json.Unmarshal(b, &text); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		v, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	v, err := parseSeconds(s)
	if err != nil {
		return fmt.Errorf("duration: %s is neither seconds nor duration text", b)
	}
	*d = Duration(v)
	return nil
}

// parseSeconds turns a JSON number of seconds into nanoseconds: exactly
// for plain decimals ("5.240065511"), through a float for the exponent
// forms some encoders write ("1.5e+03").
func parseSeconds(s string) (time.Duration, error) {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.Abs(f*1e9) >= math.MaxInt64 {
			return 0, fmt.Errorf("bad seconds %q", s)
		}
		return time.Duration(math.Round(f * 1e9)), nil
	}
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" {
		return 0, fmt.Errorf("bad seconds %q", s)
	}
	sec, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || sec > math.MaxInt64/uint64(time.Second)+1 {
		return 0, fmt.Errorf("bad seconds %q", s)
	}
	var ns uint64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		if ns, err = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err != nil {
			return 0, fmt.Errorf("bad seconds %q", s)
		}
	}
	total, limit := sec*uint64(time.Second)+ns, uint64(math.MaxInt64)
	if neg {
		limit++ // MinInt64
	}
	if total > limit {
		return 0, fmt.Errorf("bad seconds %q: out of range", s)
	}
	if neg {
		return time.Duration(-int64(total-1) - 1), nil
	}
	return time.Duration(total), nil
}
