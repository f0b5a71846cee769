//go:build linux

package config

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"HOME": "/root", "EMPTY": "", "PORT": "8010"}[k]
		return v, ok
	}
	for _, tc := range []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${HOME}/app", "/root/app", ""},
		{"--port=${PORT}", "--port=8010", ""},
		{"${MISSING:-7}", "7", ""},
		{"${EMPTY:-x}", "x", ""},
		{"${EMPTY}", "", ""},
		{"$$HOME and $$$$", "$HOME and $$", ""},
		{"$HOME $1 $", "$HOME $1 $", ""}, // only the braced form expands
		{"${MISSING}", "", "${MISSING} is not set in resreap's environment"},
		{"${HOME", "", "unclosed ${"},
		{"${}", "", "bad variable ${}"},
	} {
		have, err := expand(tc.in, env)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("expand(%q) error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || have != tc.want):
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, have, err, tc.want)
		}
	}
}
