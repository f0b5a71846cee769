//go:build linux

package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

// emerg is what a broken nginx.conf makes nginx say before it exits 1.
const emerg = `nginx: [emerg] unexpected "}" in /etc/nginx/nginx.conf:4`

// brokenSpec is a child that says what is wrong and exits 1 at once,
// until the file ok exists; then it runs.
func brokenSpec(name, ok string) config.ChildSpec {
	spec := helperSpec(name, "sleep")
	spec.Command = []string{"/bin/sh", "-c", `[ -e "$OK" ] && exec sleep 1000; echo "testing the configuration"; echo "$MSG" >&2; echo "configuration test failed" >&2; exit 1`}
	spec.Env = map[string]string{"OK": ok, "MSG": emerg}
	spec.StartGrace = 3 * time.Second // its exits come in milliseconds: failed starts
	spec.Backoff = config.BackoffSpec{Initial: time.Hour, Max: time.Hour, Multiplier: 1, ResetAfter: time.Hour}
	return spec
}

// A failed start says why in the child's own words: the error of the
// restart an operator asked for, the exit record (reason start_failed,
// output_tail) and status carry its last lines and where all of its
// output is; once it runs, status no longer shows them.
func TestFailedStartSaysWhy(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	inherit := brokenSpec("nginx", ok)
	toFile := brokenSpec("filed", ok)
	errLog := filepath.Join(dir, "filed.err")
	toFile.Stderr = config.OutputSpec{Mode: config.OutputFile, File: errLog, MaxSize: 1 << 20, Keep: 1, FileMode: 0o640}
	h := startSupervisor(t, inherit, toFile)
	h.hist.waitMatching(t, 1, "nginx", history.EventExit)
	h.hist.waitMatching(t, 1, "filed", history.EventExit)

	// Its stdout and stderr are read apart: the order of lines within each
	// is kept, not between them.
	wantLines := []string{"testing the configuration", emerg, "configuration test failed"}
	sameLines := func(lines []string) bool {
		stderr := slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return l == wantLines[0] })
		return len(lines) == 3 && slices.Contains(lines, wantLines[0]) && slices.Equal(stderr, wantLines[1:])
	}
	for name, where := range map[string]string{"nginx": "resreap's own output", "filed": "stdout: resreap's own output; stderr: " + errLog} {
		_, _, err := h.sup.RestartChild(context.Background(), name, time.Minute)
		if !errors.Is(err, ErrStartFailed) || !strings.Contains(err.Error(), "exit 1") || !strings.Contains(err.Error(), "\n  "+emerg+"\n") ||
			!strings.Contains(err.Error(), "(all of it in "+where+")") {
			t.Errorf("restart of %s: %v\nwant ErrStartFailed with its last output and %q", name, err, where)
		}
		exits := h.hist.waitMatching(t, 2, name, history.EventExit)
		for _, r := range exits {
			if r.Reason != history.ReasonStartFailed || r.OutputTail == nil || !sameLines(r.OutputTail.Lines) || r.OutputTail.FullOutput != where {
				t.Errorf("%s exit record: reason %s tail %+v, want start_failed with %q in %s", name, r.Reason, r.OutputTail, wantLines, where)
			}
		}
		st := statusOf(t, h, name)
		if st.LastReason != history.ReasonStartFailed || st.LastOutput == nil || !sameLines(st.LastOutput.Lines) {
			t.Errorf("%s status: last reason %s, last output %+v", name, st.LastReason, st.LastOutput)
		}
	}

	if err := os.WriteFile(ok, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, st, err := h.sup.RestartChild(context.Background(), "nginx", time.Minute); err != nil || st.State != Running || st.LastOutput != nil {
		t.Errorf("restart once fixed: %v, %s, last output %+v; want running and no failed start's output", err, st.State, st.LastOutput)
	}
}
