//go:build linux

package supervisor

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
)

// A child without kill_wait and a stop whose Plan gives none wait the
// same after SIGKILL: the supervisor waits for what is left in a cgroup
// with the one, the escalation with the other.
func TestDefaultKillWaitIsConfigs(t *testing.T) {
	if proc.DefaultKillWait != config.DefaultKillWait {
		t.Errorf("proc.DefaultKillWait = %s, config.DefaultKillWait = %s; want them the same", proc.DefaultKillWait, config.DefaultKillWait)
	}
}

// The stop chain of a spec is the escalation's plan, step for step.
func TestStopPlan(t *testing.T) {
	stop := config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGQUIT, Wait: time.Second}, {Signal: unix.SIGTERM, Wait: 2 * time.Second}}, KillWait: 3 * time.Second}
	have := stopPlan(stop)
	want := proc.Plan{Steps: []proc.Step{{Signal: unix.SIGQUIT, Wait: time.Second}, {Signal: unix.SIGTERM, Wait: 2 * time.Second}}, KillWait: 3 * time.Second}
	if !slices.Equal(have.Steps, want.Steps) || have.KillWait != want.KillWait {
		t.Errorf("stopPlan = %v, want %v", have, want)
	}
	sent := signalsSent([]proc.SignalSent{{Signal: unix.SIGTERM, Time: time.Unix(1, 0).UTC()}, {Signal: unix.SIGKILL, Time: time.Unix(2, 0).UTC()}})
	if len(sent) != 2 || sent[0].Signal != "TERM" || sent[1].Signal != "KILL" || !sent[1].Time.Equal(time.Unix(2, 0)) {
		t.Errorf("signalsSent = %v, want TERM then KILL with their times", sent)
	}
}

func TestStopEscalatesToKillAndTakesTheGroup(t *testing.T) {
	spec := helperSpec("stubborn", "grandchild")
	spec.Stop = config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGTERM, Wait: time.Second}}}
	h := startSupervisor(t, spec)
	line := h.out.waitLine(t, 30*time.Second, "stubborn | ready", "grandchild")
	fields := strings.Fields(line)
	gpid, err := strconv.Atoi(fields[len(fields)-1])
	if err != nil {
		t.Fatalf("grandchild pid in %q: %v", line, err)
	}
	st := h.waitState(t, "stubborn", Running, 30*time.Second)

	rep, err := h.sup.StopChild(context.Background(), "stubborn")
	if err != nil || rep == nil {
		t.Fatalf("StopChild: %v, %v", rep, err)
	}
	if rep.PID != st.PID {
		t.Errorf("stopped pid %d, want %d", rep.PID, st.PID)
	}
	var sent []string
	for _, s := range rep.SignalsSent {
		sent = append(sent, s.Signal)
	}
	if strings.Join(sent, ",") != "TERM,KILL" || !rep.Killed {
		t.Errorf("signals sent %v killed=%v, want TERM,KILL killed", sent, rep.Killed)
	}
	if sig, ok := rep.Exit.Signal(); !ok || sig != unix.SIGKILL {
		t.Errorf("exit %s, want signal KILL", rep.Exit)
	}
	// The wait after TERM is 1s: KILL cannot come sooner; generous upper bound.
	if gap := rep.SignalsSent[1].Time.Sub(rep.SignalsSent[0].Time); gap < time.Second || gap > 10*time.Second {
		t.Errorf("TERM to KILL took %s, want about 1s", gap)
	}
	t.Logf("TERM to KILL %s, stop (first signal to reap) %s", rep.SignalsSent[1].Time.Sub(rep.SignalsSent[0].Time), rep.Duration)
	waitGone(t, gpid, 30*time.Second)
	if alive(st.PID) {
		t.Errorf("child %d still alive after StopChild returned", st.PID)
	}
	stops := h.hist.waitMatching(t, 1, "stubborn", history.EventStop)
	if len(stops) != 1 || !stops[0].Killed || stops[0].Signal != "KILL" || stops[0].Reason != history.ReasonManual {
		t.Errorf("stop record %+v", stops)
	}
	if got := h.sup.Status()[0].State; got != Stopped {
		t.Errorf("state after stop %s, want Stopped", got)
	}
}

func TestStopEndsWithTheSignalThatWorked(t *testing.T) {
	spec := helperSpec("jvm", "quit-exits")
	spec.Stop = config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGTERM, Wait: 200 * time.Millisecond}, {Signal: unix.SIGQUIT, Wait: 20 * time.Second}}}
	h := startSupervisor(t, spec)
	h.out.waitLine(t, 30*time.Second, "jvm | ready")
	h.waitState(t, "jvm", Running, 30*time.Second)
	rep, err := h.sup.StopChild(context.Background(), "jvm")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Killed || rep.EndedBy() != "QUIT" || len(rep.SignalsSent) != 2 {
		t.Errorf("report %+v killed=%v, want ended by QUIT after TERM, QUIT", rep, rep.Killed)
	}
	if code, ok := rep.Exit.Code(); !ok || code != 0 {
		t.Errorf("exit %s, want exit 0", rep.Exit)
	}
	h.out.waitLine(t, 10*time.Second, "jvm | got QUIT")
}

func TestRestartChildStartsANewProcess(t *testing.T) {
	h := startSupervisor(t, helperSpec("svc", "sleep"))
	first := h.waitState(t, "svc", Running, 30*time.Second)
	rep, _, err := h.sup.RestartChild(context.Background(), "svc", time.Minute)
	if err != nil || rep == nil || rep.EndedBy() != "TERM" {
		t.Fatalf("RestartChild: %v %v", rep, err)
	}
	second := h.waitState(t, "svc", Running, 30*time.Second)
	if second.PID == first.PID || second.Restarts != 1 {
		t.Errorf("after restart pid %d (was %d), restarts %d", second.PID, first.PID, second.Restarts)
	}
	if n := len(h.hist.waitMatching(t, 1, "svc", history.EventRestart)); n != 1 {
		t.Errorf("%d restart records, want 1", n)
	}
}

func TestControlErrors(t *testing.T) {
	h := startSupervisor(t, helperSpec("svc", "sleep"))
	h.waitState(t, "svc", Running, 30*time.Second)
	ctx := context.Background()
	if _, err := h.sup.StopChild(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "unknown child") {
		t.Errorf("StopChild(nope) = %v, want unknown child", err)
	}
	if _, err := h.sup.StopChild(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if err := h.sup.SignalChild(ctx, "svc", unix.SIGHUP, false); err == nil {
		t.Errorf("signal to a stopped child: no error")
	}
	if _, err := h.sup.StartChild(ctx, "svc", time.Minute); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, "svc", Running, 30*time.Second)
}
