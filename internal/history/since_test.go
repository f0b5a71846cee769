//go:build linux

package history

import (
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, cet)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "1h", want: now.Add(-time.Hour)},
		{in: "30m", want: now.Add(-30 * time.Minute)},
		{in: "90s", want: now.Add(-90 * time.Second)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "2d", want: now.Add(-48 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "1w", want: now.Add(-7 * 24 * time.Hour)},
		{in: " 2d ", want: now.Add(-48 * time.Hour)},
		{in: "2026-11-25T10:00:00Z", want: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
		{in: "2026-11-25T10:00:00.123+01:00", want: time.Date(2026, 11, 25, 9, 0, 0, 123e6, time.UTC)},
		{in: "2026-11-24", want: time.Date(2026, 11, 24, 0, 0, 0, 0, cet)},
		{in: "", bad: true},
		{in: "yesterday", bad: true},
		{in: "-1h", bad: true},
		{in: "1.5d", bad: true},
		{in: "d", bad: true},
		{in: "3x", bad: true},
		{in: "99999999999d", bad: true},
		{in: "2026-13-01", bad: true},
	} {
		have, err := ParseSince(tc.in, now)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseSince(%q) = %v, want an error", tc.in, have)
			}
			continue
		}
		if err != nil || !have.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tc.in, have, err, tc.want)
		}
	}
}
