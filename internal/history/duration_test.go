//go:build linux

package history

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDurationMarshalSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{1503 * time.Millisecond, "1.503"},
		{3*time.Hour + 2*time.Second, "10802"},
		{5240065511 * time.Nanosecond, "5.240065511"},
		{time.Nanosecond, "0.000000001"},
		{-500 * time.Millisecond, "-0.5"},
		{math.MinInt64, "-9223372036.854775808"},
		{math.MaxInt64, "9223372036.854775807"},
	} {
		b, err := json.Marshal(Duration(tc.d))
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.d, b, err, tc.want)
			continue
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || time.Duration(back) != tc.d {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, time.Duration(back), err, tc.d)
		}
	}
}

// Files written before durations were seconds hold Go duration text; they
// read as they always did.
func TestDurationUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{`"5.240065511s"`, 5240065511 * time.Nanosecond, false},
		{`"1.503s"`, 1503 * time.Millisecond, false},
		{`"3h0m2s"`, 3*time.Hour + 2*time.Second, false},
		{`"0s"`, 0, false},
		{`5.240065511`, 5240065511 * time.Nanosecond, false},
		{`2`, 2 * time.Second, false},
		{`0.0000000015`, time.Nanosecond, false}, // below a nanosecond: dropped
		{`1.5e3`, 1500 * time.Second, false},
		{`-1.25`, -1250 * time.Millisecond, false},
		{`"soon"`, 0, true},
		{`1e300`, 0, true},
		{`99999999999999`, 0, true},
		{`true`, 0, true},
	} {
		var d Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.wantErr || time.Duration(d) != tc.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v, error %v", tc.in, time.Duration(d), err, tc.want, tc.wantErr)
		}
	}
}

// A line as the history file held it before durations were seconds.
func TestDecodeLineOldDurationText(t *testing.T) {
	const old = `{"time":"2026-11-25T10:00:00.123Z","child":"fe-server","pid":4242,"event":"stop",` +
		`"reason":"close_wait","uptime":"3h0m2s","stop_duration":"5.240065511s","backoff":"2s",` +
		`"processes":[{"pid":7,"command":"nginx","uptime":"1m30s"}]}`
	r, err := decodeLine([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if r.Uptime != Duration(3*time.Hour+2*time.Second) || r.StopDuration != Duration(5240065511) ||
		r.Backoff != Duration(2*time.Second) || r.Processes[0].Uptime != Duration(90*time.Second) {
		t.Errorf("have %+v", r)
	}
	line, err := encodeLine(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `"uptime":10802,"stop_duration":5.240065511,"backoff":2,`
	if !strings.Contains(string(line), want) {
		t.Errorf("rewritten as %s; want seconds (%s)", line, want)
	}
}
