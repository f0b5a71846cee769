//go:build linux

package health

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDurationJSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Duration
		wantErr bool
	}{
		{`"1.503s"`, Duration(1503 * time.Millisecond), false},
		{`"5m"`, Duration(5 * time.Minute), false},
		{`1503000000`, Duration(1503 * time.Millisecond), false},
		{`1.5e+09`, Duration(1500 * time.Millisecond), false},
		{`"0s"`, 0, false},
		{`"soon"`, 0, true},
		{`1.5`, 0, true},
		{`true`, 0, true},
	} {
		var d Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.wantErr || d != tc.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v, error %v", tc.in, d, err, tc.want, tc.wantErr)
		}
	}
	b, err := json.Marshal(Duration(1503 * time.Millisecond))
	if err != nil || string(b) != `"1.503s"` {
		t.Errorf("Marshal = %s, %v; want \"1.503s\"", b, err)
	}
}

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{800 * time.Microsecond, "800µs"},
		{31500 * time.Microsecond, "32ms"},
		{1234 * time.Millisecond, "1.2s"},
		{12*time.Second + 3*time.Millisecond, "12s"},
		{65*time.Second + 400*time.Millisecond, "1m5s"},
	} {
		if have := Duration(tc.d).Text(); have != tc.want {
			t.Errorf("%v: have %q, want %q", tc.d, have, tc.want)
		}
	}
}
