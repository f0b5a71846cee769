//go:build linux

package supervisor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

func leakerSpec(name, addr string, n int) config.ChildSpec {
	spec := helperSpec(name, "leak", testchild.AddrEnv+"="+addr, testchild.NEnv+"="+strconv.Itoa(n))
	spec.StartGrace = 50 * time.Millisecond
	spec.Health.Interval = 100 * time.Millisecond
	spec.Health.Policy.CloseWait = health.CloseWaitPolicy{Threshold: 3, Persist: 2}
	spec.Stop = config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGTERM, Wait: 2 * time.Second}}}
	spec.Backoff = config.BackoffSpec{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1, ResetAfter: time.Hour}
	return spec
}

func TestLeakingChildIsRestartedWithEvidence(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	h := startSupervisor(t, leakerSpec("fe", addr, 5), leakerSpec("quiet", addr, 1))
	recs := h.hist.waitFor(t, 60*time.Second, "a close_wait restart", func(r []history.Record) bool {
		return count(r, "fe", history.EventRestart) >= 1
	})
	var unhealthy, stop, restart *history.Record
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Child != "fe":
		case r.Event == history.EventUnhealthy && unhealthy == nil:
			unhealthy = r
		case r.Event == history.EventStop && stop == nil:
			stop = r
		case r.Event == history.EventRestart && restart == nil:
			restart = r
		}
	}
	if unhealthy == nil || stop == nil || restart == nil {
		t.Fatalf("missing records:\n%s", dumpRecords(recs))
	}
	ev := stop.Evidence
	if ev == nil || ev.Reason != health.ReasonCloseWait || ev.CloseWait != 5 || len(ev.Samples) != 5 || ev.ByForeign[addr] != 5 {
		t.Fatalf("stop evidence %+v", ev)
	}
	for _, s := range ev.Samples {
		if s.Tuple.Remote.String() != addr || s.PID != stop.PID {
			t.Errorf("sample %+v, want remote %s pid %d", s, addr, stop.PID)
		}
	}
	if stop.Reason != history.ReasonCloseWait || stop.Signal != "TERM" || stop.Killed || restart.Reason != history.ReasonCloseWait {
		t.Errorf("stop %+v restart %+v", stop, restart)
	}
	if n := count(recs, "quiet", history.EventUnhealthy); n != 0 {
		t.Errorf("child below the threshold judged unhealthy %d times", n)
	}
	h.waitState(t, "fe", Running, 30*time.Second)
}

func TestHookVetoesThenAllows(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	dir := t.TempDir()
	allow := filepath.Join(dir, "allow")
	seen := filepath.Join(dir, "seen")
	spec := leakerSpec("fe", addr, 3)
	// The hook records what it was told, and agrees only once the file
	// "allow" exists. No interpolation: the values arrive in the environment.
	spec.Health.BeforeRestart = config.HookSpec{Timeout: 10 * time.Second, Command: []string{"sh", "-c",
		`printf '%s %s %s\n' "$RESREAP_CHILD" "$RESREAP_PID" "$RESREAP_REASON" >> "$0"; echo "$RESREAP_EVIDENCE" > "$0.json"; test -e "$1"`, seen, allow}}
	h := startSupervisor(t, spec)
	h.hist.waitFor(t, 60*time.Second, "two vetoes", func(r []history.Record) bool { return count(r, "fe", history.EventVeto) >= 2 })
	if n := len(h.hist.matching("fe", history.EventStop)); n != 0 {
		t.Fatalf("stopped %d times despite the veto", n)
	}
	pid := h.sup.Status()[0].PID
	data, err := os.ReadFile(seen)
	if err != nil || !strings.HasPrefix(string(data), "fe "+strconv.Itoa(pid)+" close_wait\n") {
		t.Errorf("hook saw %q (err %v), want fe %d close_wait", data, err, pid)
	}
	if js, _ := os.ReadFile(seen + ".json"); !strings.Contains(string(js), `"close_wait":3`) {
		t.Errorf("RESREAP_EVIDENCE = %s", js)
	}
	if err := os.WriteFile(allow, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.hist.waitFor(t, 60*time.Second, "the restart", func(r []history.Record) bool { return count(r, "fe", history.EventRestart) >= 1 })
}

func TestDryRunTouchesNothing(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: []config.ChildSpec{leakerSpec("fe", addr, 3)}}
	h := startConfig(t, cfg, Options{DryRun: true})
	pid := h.waitState(t, "fe", Running, 30*time.Second).PID
	recs := h.hist.waitFor(t, 60*time.Second, "two dry-run verdicts", func(r []history.Record) bool { return count(r, "fe", history.EventUnhealthy) >= 2 })
	for _, r := range recs {
		if r.Event == history.EventUnhealthy && !strings.Contains(r.Message, "dry run") {
			t.Errorf("verdict without dry-run note: %+v", r)
		}
		if r.Event == history.EventStop || r.Event == history.EventRestart {
			t.Errorf("dry run stopped the child: %+v", r)
		}
	}
	if !alive(pid) || h.sup.Status()[0].PID != pid {
		t.Errorf("dry run: child %d not alive or replaced", pid)
	}
	h.stop()
	// In a dry run resreap sends no signal even at shutdown: the child is
	// left to its death signal when resreap exits. Kill it here.
	unix.Kill(-pid, unix.SIGKILL)
	waitGone(t, pid, 30*time.Second)
}
