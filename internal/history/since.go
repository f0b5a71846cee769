//go:build linux

package history

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseSince turns a --since or --until argument into a point in time. It accepts an
// age counted back from now ("90s", "30m", "1h30m", "2d", "1w", "1d12h") or
// an absolute RFC 3339 time ("2026-11-25T10:00:00Z"), or a date
// ("2026-11-25", midnight in now's location).
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, now.Location()); err == nil {
		return t, nil
	}
	d, err := parseAge(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an age like 1h, 30m, 2d or an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

// parseAge is time.ParseDuration with leading weeks and days ("1w2d3h"),
// which time.ParseDuration lacks and operators reach for first.
func parseAge(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		i := strings.Index(rest, u.suffix)
		if i <= 0 {
			continue
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			continue // not "<digits><unit>"; leave it to ParseDuration
		}
		if n < 0 || n > (math.MaxInt64-int64(total))/int64(u.unit) {
			return 0, fmt.Errorf("age out of range")
		}
		total += time.Duration(n) * u.unit
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, err
		}
		if d < 0 || total > math.MaxInt64-d {
			return 0, fmt.Errorf("age out of range")
		}
		total += d
	} else if rest == s {
		return 0, fmt.Errorf("empty age")
	}
	return total, nil
}
