//go:build linux

package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/testchild"
	"github.com/resreap/resreap/supervisor"
)

var reaper *proc.Reaper

func TestMain(m *testing.M) {
	proc.RunExecShim()
	testchild.Main()
	var err error
	if reaper, err = proc.NewReaper(zerolog.Nop()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// child is a helper child with quick timings.
func child(name, mode string, env ...string) config.ChildSpec {
	spec := config.DefaultChild()
	spec.Name = name
	spec.Command = testchild.Argv("")
	spec.Env = testchild.EnvMap(mode, env...)
	spec.StartGrace = 50 * time.Millisecond
	spec.Backoff = config.BackoffSpec{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, ResetAfter: time.Hour}
	spec.StartLimit = config.StartLimit{Burst: 1000, Interval: time.Minute}
	spec.Stop = config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGTERM, Wait: 5 * time.Second}}}
	spec.Health.Interval = 100 * time.Millisecond
	spec.Health.Policy.CloseWait.Disabled = true
	spec.Health.Policy.FDs.Disabled = true
	return spec
}

// running is a supervisor of specs with its metrics endpoint, both
// stopped at cleanup.
type running struct {
	sup *supervisor.Supervisor
	url string
}

func start(t *testing.T, specs ...config.ChildSpec) *running {
	t.Helper()
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: specs}
	scans := NewScans()
	sup := supervisor.New(cfg, supervisor.Options{Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
		Reaper: reaper, Stdout: io.Discard, Stderr: io.Discard, OnScan: scans.Observe})
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone, serveDone := make(chan error, 1), make(chan error, 1)
	go func() { runDone <- sup.Run(ctx) }()
	go func() {
		serveDone <- Serve(ctx, ln, Handler(NewRegistry(sup, scans, ReadBuildInfo("test")), sup, zerolog.Nop()))
	}()
	t.Cleanup(func() {
		cancel()
		for _, ch := range []chan error{runDone, serveDone} {
			select {
			case err := <-ch:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(60 * time.Second):
				t.Error("supervisor or server still running 60s after cancel")
			}
		}
	})
	testchild.WaitFor(t, "the supervisor's children added", func() bool { return !sup.Info().Starting })
	return &running{sup: sup, url: "http://" + ln.Addr().String()}
}

// scrape reads /metrics and returns each sample as
// `name{label="value",...}` (labels sorted, as the text format writes
// them) -> value.
func (r *running) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// waitMetrics scrapes until cond holds for the samples.
func (r *running) waitMetrics(t *testing.T, what string, cond func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m := r.scrape(t)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			var keys []string
			for k, v := range m {
				if strings.HasPrefix(k, "resreap_") {
					keys = append(keys, fmt.Sprintf("%s %g", k, v))
				}
			}
			t.Fatalf("no %s in the scrapes; last:\n%s", what, strings.Join(keys, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *running) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// The metrics follow the children: they start, one leaks CLOSE_WAIT
// sockets and is restarted for it, one crashes and is restarted for that;
// the scanner's work is counted.
func TestMetricsFollowTheChildren(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	leaky := child("leaky", "leak", testchild.AddrEnv+"="+addr, testchild.NEnv+"=4")
	leaky.Health.Policy.CloseWait = health.CloseWaitPolicy{Threshold: 3, Persist: 2}
	leaky.Health.Policy.FDs = health.FDPolicy{MaxRatio: 0.99, Persist: 2}
	crash := child("crash", "exit", testchild.AfterEnv+"=200ms", testchild.CodeEnv+"=3")
	steady := child("steady", "sleep")
	r := start(t, leaky, crash, steady)

	m := r.waitMetrics(t, "a close_wait restart of leaky and an exit restart of crash", func(m map[string]float64) bool {
		return m[`resreap_child_restarts_total{child="leaky",reason="close_wait"}`] >= 1 &&
			m[`resreap_child_restarts_total{child="crash",reason="exited"}`] >= 1
	})
	if got := m[`resreap_child_last_exit_code{child="crash"}`]; got != 3 {
		t.Errorf("crash's last exit code %g, want 3", got)
	}
	if got := m[`resreap_child_up{child="steady"}`]; got != 1 {
		t.Errorf("steady up = %g", got)
	}
	if got := m[`resreap_child_state{child="steady",state="running"}`]; got != 1 {
		t.Errorf("steady running = %g", got)
	}
	if got := m[`resreap_child_state{child="steady",state="backoff"}`]; got != 0 {
		t.Errorf("steady backoff = %g", got)
	}
	if m["resreap_fd_tables_read_total"] < 1 {
		t.Errorf("fd tables read %g", m["resreap_fd_tables_read_total"])
	}
	if n := m[`resreap_scan_duration_seconds{reader="bpf"}`] + m[`resreap_scan_duration_seconds{reader="netlink"}`] + m[`resreap_scan_duration_seconds{reader="proc"}`]; n < 2 {
		t.Errorf("%g scans observed", n)
	}
	// As root on this kernel the event source loads (health's tests fail
	// under CI when it cannot); it reads its map at every scan.
	bpf, nl, pr := m[`resreap_scan_source{source="bpf"}`], m[`resreap_scan_source{source="netlink"}`], m[`resreap_scan_source{source="proc"}`]
	if bpf+nl+pr != 1 || os.Geteuid() == 0 && (bpf != 1 || m["resreap_scan_event_map_reads_total"] < 1) {
		t.Errorf("scan source bpf %g netlink %g proc %g, map reads %g", bpf, nl, pr, m["resreap_scan_event_map_reads_total"])
	}
	for _, h := range cgroup.Helpers() { // from 0, for rate(); restarts that went as planned add none
		if v, ok := m[`resreap_stop_helper_errors_total{helper="`+h+`"}`]; !ok || v != 0 {
			t.Errorf("resreap_stop_helper_errors_total{helper=%q} = %g (present %v), want 0", h, v, ok)
		}
	}

	// A live leaker has its figures: CLOSE_WAIT sockets that persisted,
	// open fds against its limit, a start time.
	m = r.waitMetrics(t, "leaky's persistent CLOSE_WAIT sockets", func(m map[string]float64) bool {
		return m[`resreap_child_close_wait_persistent_sockets{child="leaky"}`] >= 3
	})
	st := statusOf(t, r.sup, "leaky")
	if m[`resreap_child_fds_open{child="leaky"}`] < 4 || m[`resreap_child_fds_limit{child="leaky"}`] < 4 {
		t.Errorf("fds %g/%g", m[`resreap_child_fds_open{child="leaky"}`], m[`resreap_child_fds_limit{child="leaky"}`])
	}
	if got := m[`resreap_child_start_time_seconds{child="leaky"}`]; got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("start time %g, pid %d started %s", got, st.PID, st.Started)
	}
}

// fixedSource is a Source with no children and the given Info.
type fixedSource struct{ in supervisor.Info }

func (f fixedSource) Status() []supervisor.ChildStatus { return nil }
func (f fixedSource) Info() supervisor.Info            { return f.in }
func (f fixedSource) NotReady() []string               { return nil }
func (f fixedSource) Alive() error                     { return nil }

// The history's figures: write errors and drops as counters, the events
// pending as a gauge.
func TestHistoryMetrics(t *testing.T) {
	src := fixedSource{supervisor.Info{HistoryFailed: 7, HistoryDropped: 3, HistoryPending: 42}}
	want := `
# HELP resreap_history_dropped_total Events that will never be in the history: the queue was full, shutdown could not wait for them, or they cannot be encoded.
# TYPE resreap_history_dropped_total counter
resreap_history_dropped_total 3
# HELP resreap_history_pending_events Events waiting for the history: being written, or kept in order for a retry after a failed write.
# TYPE resreap_history_pending_events gauge
resreap_history_pending_events 42
# HELP resreap_history_write_errors_total Writes to the restart history that failed; their events stay queued and are retried.
# TYPE resreap_history_write_errors_total counter
resreap_history_write_errors_total 7
`
	if err := testutil.CollectAndCompare(newCollector(src), strings.NewReader(want),
		"resreap_history_dropped_total", "resreap_history_pending_events", "resreap_history_write_errors_total"); err != nil {
		t.Error(err)
	}
}

// The exported metrics pass promlint: names, units, help.
func TestMetricsLint(t *testing.T) {
	r := start(t, child("a", "sleep"), child("b", "exit", testchild.AfterEnv+"=10ms", testchild.CodeEnv+"=1"))
	r.waitMetrics(t, "a restart of b", func(m map[string]float64) bool {
		return m[`resreap_child_restarts_total{child="b",reason="exited"}`] >= 1
	})
	problems, err := testutil.CollectAndLint(newCollector(r.sup))
	if err != nil {
		t.Fatal(err)
	}
	scans := NewScans()
	scans.Observe(supervisor.ScanReport{Reader: "netlink", Took: time.Millisecond, FDTables: 3})
	more, err := testutil.CollectAndLint(scans)
	if err != nil {
		t.Fatal(err)
	}
	problems = append(problems, more...)
	if more, err = testutil.CollectAndLint(ReadBuildInfo("test").collector()); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(problems, more...) {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// /readyz follows the required children: 503 naming the one that died,
// 200 once it runs again; /healthz stays 200.
func TestReadyzFlipsWhenRequiredChildDies(t *testing.T) {
	req := child("db", "sleep")
	req.Required = true
	req.Backoff = config.BackoffSpec{Initial: 3 * time.Second, Max: 3 * time.Second, Multiplier: 1, ResetAfter: time.Hour}
	opt := child("side", "exit", testchild.AfterEnv+"=10ms", testchild.CodeEnv+"=1") // not required: it never counts
	r := start(t, req, opt)
	waitStatus(t, r, "/readyz", http.StatusOK)
	if code, body := r.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d %s", code, body)
	}

	pid := statusOf(t, r.sup, "db").PID
	if err := r.sup.SignalChild(context.Background(), "db", unix.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	body := waitStatus(t, r, "/readyz", http.StatusServiceUnavailable)
	if body != "not ready: db" {
		t.Errorf("/readyz says %q, want \"not ready: db\"", body)
	}
	if code, _ := r.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d while a child is down: resreap itself is alive", code)
	}
	waitStatus(t, r, "/readyz", http.StatusOK)
	if now := statusOf(t, r.sup, "db").PID; now == pid || now == 0 {
		t.Errorf("db pid %d after the restart, was %d", now, pid)
	}
}

func waitStatus(t *testing.T, r *running, path string, want int) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := r.get(t, path)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q, want %d", path, code, body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusOf(t *testing.T, sup *supervisor.Supervisor, name string) supervisor.ChildStatus {
	t.Helper()
	for _, st := range sup.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no child %s", name)
	return supervisor.ChildStatus{}
}

// Every (child, reason) restart counter is there from the first scrape,
// at 0, so that increase() sees the first restart of each; a child a
// reload removes takes its series with it. resreap_build_info and the
// reload metrics are there from the start.
func TestCountersFromZero(t *testing.T) {
	r := start(t, child("a", "sleep"), child("b", "sleep"))
	m := r.waitMetrics(t, "both children", func(m map[string]float64) bool {
		_, a := m[`resreap_child_up{child="a"}`]
		_, b := m[`resreap_child_up{child="b"}`]
		return a && b
	})
	for _, c := range []string{"a", "b"} {
		for _, reason := range history.RestartReasons() {
			key := fmt.Sprintf(`resreap_child_restarts_total{child=%q,reason=%q}`, c, reason)
			if v, ok := m[key]; !ok || v != 0 {
				t.Errorf("%s = %g (present %v), want 0 from the start", key, v, ok)
			}
		}
	}
	build := fmt.Sprintf(`resreap_build_info{goversion=%q,revision=`, runtime.Version())
	found := false
	for k, v := range m {
		found = found || strings.HasPrefix(k, build) && strings.Contains(k, `version="test"`) && v == 1
	}
	if !found {
		t.Errorf("no resreap_build_info with goversion %s and version test", runtime.Version())
	}
	if m["resreap_config_last_reload_successful"] != 1 {
		t.Errorf("resreap_config_last_reload_successful %g at start, want 1", m["resreap_config_last_reload_successful"])
	}
	if ts := m["resreap_config_last_reload_success_timestamp_seconds"]; ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("resreap_config_last_reload_success_timestamp_seconds %g, want the start", ts)
	}

	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: []config.ChildSpec{child("a", "sleep")}}
	if _, err := r.sup.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	m = r.scrape(t)
	for k := range m {
		if strings.Contains(k, `child="b"`) {
			t.Errorf("%s still exported after b was removed", k)
		}
	}
	if _, ok := m[`resreap_child_restarts_total{child="a",reason="exited"}`]; !ok {
		t.Error("a's counters gone after a reload that kept it")
	}
}

// status, /readyz and resreap_child_up agree about a required child with
// a ready probe: up once ready; after an operator stops it, none says it
// is up.
func TestStatusReadyzAndUpAgree(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	backend := child("backend", "sleep")
	backend.Ready = config.ReadySpec{Exec: []string{"test", "-e", ready}, Timeout: 5 * time.Second, Interval: 50 * time.Millisecond}
	backend.StartTimeout, backend.Required = 5*time.Minute, true
	r := start(t, backend, child("web", "sleep"))
	agree := func(up bool) {
		t.Helper()
		wantCode, wantUp := http.StatusServiceUnavailable, 0.0
		if up {
			wantCode, wantUp = http.StatusOK, 1
		}
		waitStatus(t, r, "/readyz", wantCode)
		if st := statusOf(t, r.sup, "backend"); st.Up() != up {
			t.Errorf("status: backend %s, up %v; want up %v", st.State, st.Up(), up)
		}
		if v := r.scrape(t)[`resreap_child_up{child="backend"}`]; v != wantUp {
			t.Errorf("resreap_child_up{child=\"backend\"} %g, want %g", v, wantUp)
		}
	}
	agree(false) // starting: its probe has not passed
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	agree(true)
	if _, err := r.sup.StopChild(context.Background(), "backend"); err != nil {
		t.Fatal(err)
	}
	agree(false)
	if code, body := r.get(t, "/readyz"); body != "not ready: backend" {
		t.Errorf("/readyz %d %q after the stop", code, body)
	}
}
