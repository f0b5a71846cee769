//go:build linux

package history

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRecordRoundTrip(t *testing.T) {
	want := fullRecord()
	line, err := encodeLine(want)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(line), "\n"); n != 1 || !strings.HasSuffix(string(line), "\n") {
		t.Fatalf("line has %d newlines, want exactly one at the end: %q", n, line)
	}
	have, err := decodeLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, have, cmpAddrPort); diff != "" {
		t.Errorf("round trip (-want +have):\n%s", diff)
	}
}

// cmpAddrPort compares netip.AddrPort by value; cmp cannot see inside it.
var cmpAddrPort = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func TestRecordJSONFields(t *testing.T) {
	b, err := encodeLine(fullRecord())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`{"time":"2026-11-25T10:00:00.123Z","child":"fe-server",`,
		`"pid":4242`, `"event":"restart"`, `"reason":"close_wait"`,
		`"message":"persistent CLOSE_WAIT <nil> & more"`,
		`"exit_code":3`, `"signal":"KILL"`, `"uptime":10802,`,
		`"signals_sent":[{"signal":"TERM","time":"2026-11-25T09:59:58.123Z"},{"signal":"KILL","time":"2026-11-25T10:00:00.122Z"}]`,
		`"killed":true`, `"stop_duration":1.503,`, `"backoff":2,`, `"restarts":7`,
		`"evidence":{"reason":"close_wait","close_wait":12`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s\nhave %s", want, s)
		}
	}
	if strings.Count(s, `"time"`) != 3 {
		t.Errorf("want the record time once plus two signal times:\n%s", s)
	}
}

func TestRecordOmitsZeroFields(t *testing.T) {
	b, err := json.Marshal(rec("a", EventStart, 0))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"time":"2026-11-25T10:00:00.000Z","child":"a","pid":1000,"event":"start"}`
	if string(b) != want {
		t.Errorf("have %s\nwant %s", b, want)
	}
}

func TestTimeFormat(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC), "2026-11-25T10:00:00.123Z"},
		{time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), "2026-11-25T10:00:00.000Z"},
		{time.Date(2026, 11, 25, 11, 0, 0, 5_999_999, cet), "2026-11-25T10:00:00.005Z"}, // UTC, truncated
	} {
		if have := formatTime(tc.in); have != tc.want {
			t.Errorf("formatTime(%v) = %s, want %s", tc.in, have, tc.want)
		}
	}
}

func TestDecodeLineRejects(t *testing.T) {
	for _, in := range []string{
		`{"time":"2026-11-25T10:00:00.000Z","child":"a","event":"start"}{"time":`,
		`{"child":"a","event":"start"}`,
		`{"time":"2026-11-25T10:00:00.000Z","child":"a"}`,
		`{"time":"2026-11-25T10:00:00.000Z","child":"a","event":"start","uptime":"x"}`,
		`not json`,
	} {
		if _, err := decodeLine([]byte(in)); err == nil {
			t.Errorf("decodeLine(%s) accepted", in)
		}
	}
}
