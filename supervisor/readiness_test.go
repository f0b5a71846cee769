//go:build linux

package supervisor

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// fileProbe is a ready probe that passes while path exists: the test
// decides when the child is ready, so no assertion depends on timing.
func fileProbe(path string) config.ReadySpec {
	return config.ReadySpec{Exec: []string{"test", "-e", path}, Timeout: 5 * time.Second, Interval: 50 * time.Millisecond}
}

// A dependent starts only once its dependency's ready probe passes, and
// says what it waits for meanwhile; the dependency going down later does
// not stop it.
func TestDependentStartsWhenDependencyIsReady(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	backend, fe := helperSpec("backend", "sleep"), helperSpec("fe", "sleep")
	backend.Ready, backend.StartTimeout = fileProbe(ready), 5*time.Minute
	fe.DependsOn = []string{"backend"}
	h := startSupervisor(t, fe, backend)

	h.hist.waitMatching(t, 1, "backend", history.EventStart)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := statusOf(t, h, "fe")
		if st.WaitingFor == "backend" && st.State == Stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fe does not wait for backend: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Ten probes fail meanwhile; the backend stays Starting and fe waits.
	time.Sleep(10 * backend.Ready.Interval)
	if st := statusOf(t, h, "backend"); st.State != Starting {
		t.Fatalf("backend %s before its probe passed, want starting", st.State)
	}
	if n := count(h.hist.all(), "fe", history.EventStart); n != 0 {
		t.Fatalf("fe started %d times before backend was ready", n)
	}

	readyAt := time.Now()
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, "backend", Running, 30*time.Second)
	st := h.waitState(t, "fe", Running, 30*time.Second)
	if st.WaitingFor != "" {
		t.Errorf("fe running but still waiting for %q", st.WaitingFor)
	}
	if starts := h.hist.matching("fe", history.EventStart); len(starts) != 1 || starts[0].Time.Before(readyAt) {
		t.Errorf("fe starts %v, want one after the backend became ready at %s", dumpRecords(starts), readyAt)
	}

	// The backend crashes for good (its probe never passes again): fe
	// keeps running.
	if err := os.Remove(ready); err != nil {
		t.Fatal(err)
	}
	bpid := statusOf(t, h, "backend").PID
	if err := h.sup.SignalChild(context.Background(), "backend", unix.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	waitGone(t, bpid, 30*time.Second)
	h.hist.waitMatching(t, 2, "backend", history.EventStart)
	if got := statusOf(t, h, "fe"); got.State != Running || got.PID != st.PID {
		t.Errorf("fe after its dependency went down: %s pid %d, want running pid %d", got.State, got.PID, st.PID)
	}
}

// A child whose probe does not pass within start_timeout is a failed
// start: its process is stopped and the start is retried after the
// backoff, with reason not_ready in the history.
func TestNeverReadyIsFailedStart(t *testing.T) {
	spec := helperSpec("slow", "sleep")
	spec.Ready = config.ReadySpec{Exec: []string{"false"}, Timeout: 5 * time.Second, Interval: 50 * time.Millisecond}
	spec.StartTimeout = 300 * time.Millisecond
	h := startSupervisor(t, spec)

	recs := h.hist.waitFor(t, 60*time.Second, "a not_ready restart", func(r []history.Record) bool {
		for _, rec := range r {
			if rec.Event == history.EventRestart && rec.Reason == history.ReasonNotReady {
				return true
			}
		}
		return false
	})
	var first history.Record
	for _, r := range recs {
		if r.Event == history.EventStart {
			first = r
			break
		}
	}
	waitGone(t, first.PID, 30*time.Second)
	h.hist.waitMatching(t, 2, "slow", history.EventStart)
	for _, r := range h.hist.matching("slow", history.EventRestart) {
		if r.Reason != history.ReasonNotReady || !strings.Contains(r.Message, "not ready within 300ms") {
			t.Errorf("restart %+v, want reason not_ready saying why", r)
		}
	}
	if st := statusOf(t, h, "slow"); st.State == Running {
		t.Errorf("a child that never became ready is %s", st.State)
	}
}

// With liveness on, a running child whose probe fails liveness.failures
// times in a row is restarted with reason liveness and the probe's error
// as evidence.
func TestLivenessRestartsHungChild(t *testing.T) {
	alivePath := filepath.Join(t.TempDir(), "alive")
	if err := os.WriteFile(alivePath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	spec := helperSpec("hung", "sleep")
	spec.Ready, spec.StartTimeout = fileProbe(alivePath), 5*time.Minute
	spec.Liveness = config.LivenessSpec{Failures: 3, Interval: 50 * time.Millisecond}
	h := startSupervisor(t, spec)
	st := h.waitState(t, "hung", Running, 30*time.Second)

	// It keeps running while the probe passes.
	time.Sleep(10 * spec.Ready.Interval)
	if n := len(h.hist.matching("hung", history.EventRestart)); n != 0 {
		t.Fatalf("%d restarts while the probe passed", n)
	}
	if err := os.Remove(alivePath); err != nil {
		t.Fatal(err)
	}
	recs := h.hist.waitMatching(t, 1, "hung", history.EventRestart)
	r := recs[0]
	if r.Reason != history.ReasonLiveness || r.PID != st.PID {
		t.Fatalf("restart %+v, want reason liveness for pid %d", r, st.PID)
	}
	if r.Evidence == nil || r.Evidence.Failures < 3 || r.Evidence.Probe == "" {
		t.Errorf("evidence %+v, want the probe's error and at least 3 failures", r.Evidence)
	}
	waitGone(t, st.PID, 30*time.Second)
}

// A tcp probe passes once the child listens: the child here listens only
// after a second, and is Running only then.
func TestReadyProbeTCP(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the child listens on it, later
	spec := helperSpec("srv", "closedelay", testchild.AddrEnv+"="+addr, testchild.AfterEnv+"=0s")
	spec.Command = append([]string{"/bin/sh", "-c", `sleep 1; exec "$@"`, "sh"}, spec.Command...)
	spec.Ready = config.ReadySpec{TCP: addr, Timeout: time.Second, Interval: 50 * time.Millisecond}
	spec.StartTimeout = 5 * time.Minute
	h := startSupervisor(t, spec)
	h.waitState(t, "srv", Running, 60*time.Second)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("running, but %s does not accept: %v", addr, err)
	}
	c.Close()
}

// The http probe wants a 2xx and does not follow redirects.
func TestProbeHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, ok := range map[string]bool{"/ok": true, "/down": false, "/moved": false, "/missing": false} {
		spec := config.ReadySpec{HTTP: srv.URL + path, Timeout: 10 * time.Second}
		err := probe(context.Background(), spec, cgroup.Group{}, testReaper, zerolog.Nop())
		if (err == nil) != ok {
			t.Errorf("GET %s: %v, want ready=%v", path, err, ok)
		}
	}
}

func statusOf(t *testing.T, h *harness, name string) ChildStatus {
	t.Helper()
	for _, st := range h.sup.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no child %s in %+v", name, h.sup.Status())
	return ChildStatus{}
}
