//go:build linux

package history

import (
	"slices"
	"strings"
	"testing"
)

func TestParseEvents(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Event
		bad  string // a word the error must contain
	}{
		{in: "restart", want: []Event{EventRestart}},
		{in: "restart,stop", want: []Event{EventRestart, EventStop}},
		{in: " Restart , stop,", want: []Event{EventRestart, EventStop}},
		{in: "restart,sotp", bad: `"sotp"`},
		{in: "", bad: "known"},
		{in: ",", bad: "known"},
	} {
		have, err := ParseEvents(tc.in)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("ParseEvents(%q) = %v, %v; want an error with %s", tc.in, have, err, tc.bad)
			}
			continue
		}
		if err != nil || !slices.Equal(have, tc.want) {
			t.Errorf("ParseEvents(%q) = %v, %v; want %v", tc.in, have, err, tc.want)
		}
	}
	for _, e := range Events() {
		if !e.Known() {
			t.Errorf("%s not known", e)
		}
	}
}
