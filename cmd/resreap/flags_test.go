//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"
)

// Every command names a bad flag and exits 2, and answers -h with its
// flags and exit 0.
func TestBadFlagsAreReported(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"check"}, {"demo", "fe-server"}, {"history"}, {"status"}, {"watch"}} {
		var out, errOut bytes.Buffer
		if code := dispatch(append(args, "--no-such-flag"), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--no-such-flag") {
			t.Errorf("%v --no-such-flag: exit %d, stderr %q; want 2 naming the flag", args, code, errOut.String())
		}
	}
	for _, args := range [][]string{{"run"}, {"check"}} {
		var out, errOut bytes.Buffer
		if code := dispatch(append(args, "-h"), &out, &errOut); code != 0 || !strings.Contains(out.String(), "--config") || errOut.Len() != 0 {
			t.Errorf("%v -h: exit %d, stdout %q, stderr %q", args, code, out.String(), errOut.String())
		}
	}
}
