//go:build linux

package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

func TestReloadRestartsOnlyWhatChanged(t *testing.T) {
	a, b, c := helperSpec("a", "sleep"), helperSpec("b", "sleep"), helperSpec("c", "sleep")
	h := startSupervisor(t, a, b, c)
	pidA := h.waitState(t, "a", Running, 30*time.Second).PID
	pidB := h.waitState(t, "b", Running, 30*time.Second).PID
	pidC := h.waitState(t, "c", Running, 30*time.Second).PID

	b2 := b
	b2.Env = testchild.EnvMap("sleep", "VERSION=2")
	d := helperSpec("d", "sleep")
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: []config.ChildSpec{a, b2, d}}
	rep, err := h.sup.Reload(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Started, []string{"d"}) || !slices.Equal(rep.Stopped, []string{"c"}) ||
		!slices.Equal(rep.Restarted, []string{"b"}) || !slices.Equal(rep.Unchanged, []string{"a"}) {
		t.Fatalf("reload report %+v", rep)
	}
	if st := h.waitState(t, "a", Running, 30*time.Second); st.PID != pidA {
		t.Errorf("unchanged child a restarted: pid %d -> %d", pidA, st.PID)
	}
	if st := h.waitState(t, "b", Running, 30*time.Second); st.PID == pidB {
		t.Errorf("changed child b kept pid %d", pidB)
	}
	h.waitState(t, "d", Running, 30*time.Second)
	waitGone(t, pidC, 30*time.Second)
	for _, st := range h.sup.Status() {
		if st.Name == "c" {
			t.Errorf("removed child c still listed: %+v", st)
		}
	}
	if n := len(h.hist.waitMatching(t, 1, "", history.EventReload)); n != 1 {
		t.Errorf("%d reload records, want 1", n)
	}
}

func TestBadReloadKeepsChildrenRunning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resreap.toml")
	good := "[[child]]\nname = \"svc\"\ncommand = [" + strconv.Quote(os.Args[0]) + ", \"-test.run=^$\"]\nenv = { " + testchild.ModeEnv + " = \"sleep\" }\nstart_seconds = \"100ms\"\n"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := startConfig(t, cfg, Options{})
	pid := h.waitState(t, "svc", Running, 30*time.Second).PID
	if err := os.WriteFile(path, []byte(good+"bogus_key = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	started := h.sup.Info().LastReloadSuccess
	if _, err := h.sup.ReloadFile(context.Background()); err == nil || !strings.Contains(err.Error(), "resreap.toml:6") {
		t.Fatalf("bad reload error = %v, want one naming resreap.toml:6", err)
	}
	if st := h.waitState(t, "svc", Running, time.Second); st.PID != pid {
		t.Errorf("a bad reload touched the child: pid %d -> %d", pid, st.PID)
	}
	// The rejection is a record and a figure, not only a log line.
	rec := h.hist.waitMatching(t, 1, "", history.EventReload)[0]
	if rec.Reason != history.ReasonRejected || !strings.Contains(rec.Message, "resreap.toml:6") {
		t.Errorf("reload record %+v, want reason rejected naming resreap.toml:6", rec)
	}
	if in := h.sup.Info(); in.LastReloadOK || !in.LastReloadSuccess.Equal(started) {
		t.Errorf("after a rejected reload: ok %v, last success %s (start %s)", in.LastReloadOK, in.LastReloadSuccess, started)
	}
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sup.ReloadFile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in := h.sup.Info(); !in.LastReloadOK || !in.LastReloadSuccess.After(started) {
		t.Errorf("after a good reload: ok %v, last success %s (start %s)", in.LastReloadOK, in.LastReloadSuccess, started)
	}
}

// Shutdown stops dependents before their dependencies.
func TestShutdownInReverseDependencyOrder(t *testing.T) {
	db, api, fe, side := helperSpec("db", "sleep"), helperSpec("api", "sleep"), helperSpec("fe", "sleep"), helperSpec("side", "sleep")
	api.DependsOn = []string{"db"}
	fe.DependsOn = []string{"api"}
	h := startSupervisor(t, fe, side, api, db)
	for _, n := range []string{"db", "api", "fe", "side"} {
		h.waitState(t, n, Running, 30*time.Second)
	}
	for _, n := range []string{"db", "api", "fe", "side"} {
		h.hist.waitMatching(t, 1, n, history.EventStart)
	}
	starts := map[string]time.Time{}
	for _, r := range h.hist.all() {
		if r.Event == history.EventStart {
			starts[r.Child] = r.Time
		}
	}
	if !starts["db"].Before(starts["api"]) || !starts["api"].Before(starts["fe"]) {
		t.Errorf("start order: db %s api %s fe %s", starts["db"], starts["api"], starts["fe"])
	}
	h.stop()
	var order []string
	for _, r := range h.hist.all() {
		if r.Event == history.EventStop {
			if r.Reason != history.ReasonShutdown {
				t.Errorf("stop reason %s, want shutdown", r.Reason)
			}
			order = append(order, r.Child)
		}
	}
	if i, j, k := slices.Index(order, "fe"), slices.Index(order, "api"), slices.Index(order, "db"); !(i >= 0 && i < j && j < k) {
		t.Errorf("stop order %v, want fe before api before db", order)
	}
	if len(order) != 4 {
		t.Errorf("stopped %v, want all four", order)
	}
}

// After a run full of crashes, kills and orphaned grandchildren, nothing
// that resreap started is left: no zombie, no process.
func TestNoZombiesOrOrphansLeft(t *testing.T) {
	crash := helperSpec("crash", "exit", testchild.AfterEnv+"=10ms", testchild.CodeEnv+"=2")
	crash.Backoff.Initial, crash.Backoff.Max = 0, 0
	gc := helperSpec("gc", "grandchild")
	gc.Stop.Steps[0].Wait = 200 * time.Millisecond
	h := startSupervisor(t, crash, gc)
	h.hist.waitFor(t, 60*time.Second, "20 crashes", func(r []history.Record) bool { return count(r, "crash", history.EventExit) >= 20 })
	h.waitState(t, "gc", Running, 30*time.Second)
	for i := 0; i < 3; i++ {
		if _, _, err := h.sup.RestartChild(context.Background(), "gc", time.Minute); err != nil {
			t.Fatal(err)
		}
		h.waitState(t, "gc", Running, 30*time.Second)
	}
	h.stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := descendantsOf(os.Getpid())
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left after the run: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// descendantsOf lists "pid state" of every process whose parent is pid.
func descendantsOf(pid int) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[1] == strconv.Itoa(pid) {
			out = append(out, e.Name()+" "+f[0])
		}
	}
	return out
}

// A reload that changes only how a child is supervised (its health
// interval, its stop) applies it to the running process; one that changes
// the process (its environment) restarts it. Both reset the backoff, and
// the report names the keys.
func TestReloadUpdatesInPlace(t *testing.T) {
	a, b := helperSpec("a", "sleep"), helperSpec("b", "sleep")
	h := startSupervisor(t, a, b)
	pidA := h.waitState(t, "a", Running, 30*time.Second).PID
	pidB := h.waitState(t, "b", Running, 30*time.Second).PID

	a2, b2 := a, b
	a2.Health.Interval, a2.Stop.KillWait = 3*time.Second, 7*time.Second
	b2.Env = testchild.EnvMap("sleep", "VERSION=2")
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: []config.ChildSpec{a2, b2}}
	rep, err := h.sup.Reload(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Updated, []string{"a"}) || !slices.Equal(rep.Restarted, []string{"b"}) ||
		!slices.Equal(rep.Changes["a"], []string{"stop", "health.interval"}) || !slices.Equal(rep.Changes["b"], []string{"env"}) {
		t.Fatalf("reload report %+v", rep)
	}
	if want := "restarted b (env); updated a (stop, health.interval)"; rep.String() != want {
		t.Errorf("report %q, want %q", rep.String(), want)
	}
	if st := h.waitState(t, "a", Running, 30*time.Second); st.PID != pidA {
		t.Errorf("a restarted for a supervision change: pid %d -> %d", pidA, st.PID)
	}
	if st := h.waitState(t, "b", Running, 30*time.Second); st.PID == pidB {
		t.Errorf("b kept pid %d after its env changed", pidB)
	}
	if r := h.hist.waitMatching(t, 1, "", history.EventReload)[0]; r.Message != rep.String() {
		t.Errorf("reload record %q, want %q", r.Message, rep.String())
	}
}
