//go:build linux

package main

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// scrapeMetrics reads the metrics endpoint of the daemon (its address
// from the log) as text.
func scrapeMetrics(t *testing.T, d *daemon, path string) (int, string) {
	t.Helper()
	addr := d.logField("metrics: /metrics /healthz /readyz", "listen")
	if addr == "" {
		t.Fatalf("no metrics endpoint in the log:\n%s", d.output())
	}
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// sample returns the value of the sample line name{labels} in a scrape,
// and whether there is one.
func sample(scrape, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// A scrape as soon as resreap has its children has every (child, reason)
// restart counter at 0. A reload SIGHUP asks for, of a broken file, is a
// history record (event reload, reason rejected, the problems as
// file:line) and resreap_config_last_reload_successful 0; the next good
// one sets it to 1 again and removes the series of a child it removed.
func TestRejectedSIGHUPReloadInHistoryAndMetrics(t *testing.T) {
	dir := t.TempDir()
	children := helperChild("web", "sleep") + helperChild("worker", "sleep")
	cfg := faultConfig(t, dir, `metrics_listen = "127.0.0.1:0"`, children)
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, cfg)
	waitStatus(t, cfg, func(m map[string]map[string]any) bool { return m["web"] != nil && m["worker"] != nil })
	_, scrape := scrapeMetrics(t, d, "/metrics")
	for _, child := range []string{"web", "worker"} {
		for _, reason := range history.RestartReasons() {
			series := `resreap_child_restarts_total{child="` + child + `",reason="` + string(reason) + `"}`
			if v, ok := sample(scrape, series); !ok || v != 0 {
				t.Errorf("first scrape: %s = %g (present %v), want 0", series, v, ok)
			}
		}
	}
	if v, _ := sample(scrape, "resreap_config_last_reload_successful"); v != 1 {
		t.Errorf("resreap_config_last_reload_successful %g at start", v)
	}
	if !strings.Contains(scrape, "resreap_build_info{") {
		t.Error("no resreap_build_info")
	}
	loaded, _ := sample(scrape, "resreap_config_last_reload_success_timestamp_seconds")

	// A broken edit, and SIGHUP, as ExecReload=/bin/kill -HUP does.
	if err := os.WriteFile(cfg, append(good, "bogus = 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var rejected history.Record
	testchild.WaitWithin(t, "a rejected reload in the history", 60*time.Second, func() bool {
		for _, r := range readHistory(t, dir, history.Filter{Events: []history.Event{history.EventReload}}) {
			rejected = r
			return true
		}
		return false
	})
	if rejected.Reason != history.ReasonRejected || !strings.Contains(rejected.Message, "resreap.toml:") || !strings.Contains(rejected.Message, "bogus: unknown key") {
		t.Errorf("reload record %+v, want reason rejected with the problem as file:line", rejected)
	}
	_, scrape = scrapeMetrics(t, d, "/metrics")
	if v, _ := sample(scrape, "resreap_config_last_reload_successful"); v != 0 {
		t.Errorf("resreap_config_last_reload_successful %g after a rejected reload, want 0", v)
	}
	if v, _ := sample(scrape, "resreap_config_last_reload_success_timestamp_seconds"); v != loaded {
		t.Errorf("last success %g after a rejected reload, want the start's %g", v, loaded)
	}

	// Fixed, without worker.
	fixed := strings.Replace(string(good), helperChild("worker", "sleep"), "", 1)
	if err := os.WriteFile(cfg, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testchild.WaitWithin(t, "a successful reload in the metrics", 60*time.Second, func() bool {
		_, scrape = scrapeMetrics(t, d, "/metrics")
		v, _ := sample(scrape, "resreap_config_last_reload_successful")
		return v == 1
	})
	if v, _ := sample(scrape, "resreap_config_last_reload_success_timestamp_seconds"); v <= loaded {
		t.Errorf("last success %g after a good reload, want after the start's %g", v, loaded)
	}
	if strings.Contains(scrape, `child="worker"`) {
		t.Errorf("worker's series still there after a reload removed it:\n%s", scrape)
	}
}
