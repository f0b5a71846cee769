//go:build linux

package main

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/resreap/resreap/internal/config"
)

// The deploy files give resreap the time its shutdown takes: docker
// stop's default and the README's --stop-timeout, the pod's grace period,
// all against what resreap check computes for the image's config.
func TestDeployFilesCoverTheShutdown(t *testing.T) {
	cfg, err := config.Load("../../configs/container.toml")
	if err != nil {
		t.Fatal(err)
	}
	total, _ := shutdownTime(cfg)
	shutdown := wholeSeconds(total)
	if shutdown > 10 {
		t.Errorf("container.toml's shutdown takes %ds: more than docker stop's default 10s", shutdown)
	}

	var pod struct {
		Spec struct {
			Grace      *int64 `yaml:"terminationGracePeriodSeconds"`
			Containers []struct {
				Image      string `yaml:"image"`
				PullPolicy string `yaml:"imagePullPolicy"`
			} `yaml:"containers"`
		} `yaml:"spec"`
	}
	data, err := os.ReadFile("../../configs/kubernetes-pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &pod); err != nil {
		t.Fatal(err)
	}
	if g := pod.Spec.Grace; g == nil || *g < shutdown+2 {
		t.Errorf("terminationGracePeriodSeconds %v does not cover the shutdown (%ds) and resreap's exit", g, shutdown)
	}
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].PullPolicy != "IfNotPresent" {
		t.Errorf("the pod's container should pull a local image only if not present: %+v", pod.Spec.Containers)
	}

	docker := read(t, "../../Dockerfile")
	for _, want := range []string{"\nSTOPSIGNAL SIGTERM\n", "\nHEALTHCHECK ", `"probe", "--timeout", "4s", "/healthz"]`} {
		if !strings.Contains(docker, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	readme := read(t, "../../README.md")
	for name, text := range map[string]string{"Dockerfile": docker, "README.md": readme} {
		m := regexp.MustCompile(`docker run [^\n]*--stop-timeout (\d+)`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s: docker run without --stop-timeout", name)
			continue
		}
		if n, _ := strconv.ParseInt(m[1], 10, 64); n < shutdown+2 {
			t.Errorf("%s: --stop-timeout %d does not cover the shutdown (%ds)", name, n, shutdown)
		}
	}
	unit := read(t, "../../configs/resreap.service")
	if !strings.Contains(unit, "\nExecReload=/usr/local/bin/resreap reload -c /etc/resreap/resreap.toml\n") {
		t.Errorf("resreap.service: ExecReload is not resreap reload")
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The longest shutdown: the levels one after another (dependents first),
// the longest stop of each, kill_wait included.
func TestShutdownTime(t *testing.T) {
	cfg, err := config.Parse("/x/resreap.toml", []byte(`
[defaults]
stop = { signals = ["TERM"], wait = "3s", kill_wait = "1s" }
[[child]]
name = "db"
command = ["db"]
[[child]]
name = "api"
command = ["api"]
depends_on = ["db"]
stop = { signals = ["QUIT", "TERM"], wait = ["1s", "5s"], kill_wait = "2s" }
[[child]]
name = "worker"
command = ["worker"]
depends_on = ["db"]
[[child]]
name = "cron"
command = ["cron"]
`))
	if err != nil {
		t.Fatal(err)
	}
	total, slowest := shutdownTime(cfg)
	if want := "12s"; total.String() != want || len(slowest) != 2 || slowest[0] != "api" {
		t.Errorf("have %v %v; want %s [api, db or cron] (api 8s, then db or cron 4s)", total, slowest, want)
	}
}

// The demo takes its directory and ports from the environment, with the
// defaults the README names.
func TestDemoConfigFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env                   map[string]string
		dir, metrics, backend string
	}{
		{map[string]string{}, "/tmp/resreap-demo", "127.0.0.1:9321", "127.0.0.1:9322"},
		{map[string]string{"RESREAP_DEMO_DIR": "/tmp/demo2", "RESREAP_DEMO_METRICS": "127.0.0.1:9331", "RESREAP_DEMO_PORT": "9332"},
			"/tmp/demo2", "127.0.0.1:9331", "127.0.0.1:9332"},
	} {
		for _, k := range []string{"RESREAP_DEMO_DIR", "RESREAP_DEMO_METRICS", "RESREAP_DEMO_PORT"} {
			t.Setenv(k, tc.env[k])
			if tc.env[k] == "" {
				os.Unsetenv(k)
			}
		}
		cfg, err := config.Load("../../configs/demo.toml")
		if err != nil {
			t.Fatal(err)
		}
		sc := cfg.Supervisor
		if sc.StateDir != tc.dir || sc.ControlSocket != tc.dir+"/control.sock" || sc.HistoryFile != tc.dir+"/history.jsonl" || sc.MetricsListen != tc.metrics {
			t.Errorf("%v: supervisor %+v", tc.env, sc)
		}
		if b := cfg.Child("backend"); b.Ready.TCP != tc.backend || !slices.Contains(b.Command, tc.backend) {
			t.Errorf("%v: backend on %s, probed at %s; want %s", tc.env, b.Command, b.Ready.TCP, tc.backend)
		}
		if fe := cfg.Child("fe-server"); !slices.Contains(fe.Command, tc.backend) {
			t.Errorf("%v: fe-server's backend %v; want %s", tc.env, fe.Command, tc.backend)
		}
		if w := cfg.Child("worker"); w.Stdout.File != tc.dir+"/worker.log" {
			t.Errorf("%v: worker's output %s", tc.env, w.Stdout.File)
		}
	}
}
