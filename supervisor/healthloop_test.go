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
	recs := h.hist.waitFor(t, 60*time.Second, "a dry-run verdict", func(r []history.Record) bool { return count(r, "fe", history.EventWouldRestart) >= 1 })
	for _, r := range recs {
		if r.Event == history.EventWouldRestart && !strings.Contains(r.Message, "dry run") {
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

// After a veto the hook is not asked again before the cooldown: a hook
// that always says no is asked about once per cooldown, not at every
// scan, and each veto is recorded once.
func TestVetoCooldown(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	spec := leakerSpec("fe", addr, 3)
	spec.Health.VetoCooldown = time.Second // 10 intervals of 100ms
	asked := filepath.Join(t.TempDir(), "asked")
	spec.Health.BeforeRestart = config.HookSpec{Timeout: 10 * time.Second, Command: []string{"sh", "-c", `echo >> "$0"; exit 1`, asked}}
	h := startSupervisor(t, spec)
	h.hist.waitMatching(t, 1, "fe", history.EventVeto)
	start := time.Now()
	h.hist.waitMatching(t, 3, "fe", history.EventVeto)
	took := time.Since(start)
	data, _ := os.ReadFile(asked)
	vetoes := h.hist.matching("fe", history.EventVeto)
	// Two more vetoes cannot come sooner than two cooldowns.
	if took < 2*time.Second {
		t.Errorf("3 vetoes within %s of the first: the cooldown of 1s was not kept", took)
	}
	if n := strings.Count(string(data), "\n"); n < 3 || n > len(vetoes)+1 {
		t.Errorf("hook asked %d times for %d vetoes", n, len(vetoes))
	}
	if !strings.Contains(vetoes[0].Message, "verdicts not acted on for 1s") {
		t.Errorf("veto message %q does not say how long", vetoes[0].Message)
	}
}

// A dry run records a verdict once per process and reason, as
// would_restart, and never stops the child.
func TestDryRunRecordsOnce(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: []config.ChildSpec{leakerSpec("fe", addr, 3)}}
	h := startConfig(t, cfg, Options{DryRun: true})
	first := h.hist.waitMatching(t, 1, "fe", history.EventWouldRestart)[0]
	// 30 more scans of the same leaking process.
	pid := h.waitState(t, "fe", Running, 30*time.Second).PID
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(h.hist.matching("fe", history.EventWouldRestart)); n != 1 {
		t.Errorf("%d would_restart records for one process, want 1", n)
	}
	if n := len(h.hist.matching("fe", history.EventUnhealthy, history.EventStop, history.EventRestart)); n != 0 {
		t.Errorf("%d unhealthy/stop/restart records in a dry run", n)
	}
	if first.PID != pid || first.Evidence == nil || h.sup.Status()[0].PID != pid {
		t.Errorf("would_restart %+v: want the live process %d with evidence, still running", first, pid)
	}
	h.stop()
	// A dry run sends no signal even at shutdown (the child would die by
	// its parent-death signal when resreap exits): kill it here.
	unix.Kill(-pid, unix.SIGKILL)
	waitGone(t, pid, 30*time.Second)
}
