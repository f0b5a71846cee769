//go:build linux

package config

import (
	"slices"
	"testing"
)

func TestInlineKeys(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  []string
	}{
		{`"2s"`, nil},
		{`{ a = 1, b = "x,y = z" }`, []string{"a", "b"}},
		{`{ signals = ["QUIT", "TERM"], wait = ["1s", "5s"] }`, []string{"signals", "wait"}},
		{`{ interval = "2s", close_wait = { threshold = 2, persist = 2 }, fds = { max_ratio = 0.9 } }`,
			[]string{"interval", "close_wait", "close_wait.threshold", "close_wait.persist", "fds", "fds.max_ratio"}},
		{`{ "quoted key" = 1, b = { c = { d = 2 } } }`, []string{"quoted key", "b", "b.c", "b.c.d"}},
	} {
		if have := inlineKeys(tc.value); !slices.Equal(have, tc.want) {
			t.Errorf("%s: have %q, want %q", tc.value, have, tc.want)
		}
	}
}
