//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/resreap/resreap/internal/testchild"
)

// TestHealthSource: resreap run says once where CLOSE_WAIT sockets come
// from and why, in its log and in status (text and --json): the BPF event
// source as root, the netlink dump without CAP_BPF, CAP_PERFMON and
// CAP_SYS_ADMIN (dropped from the bounding set by setpriv, so that the
// root process never has them), with the reason.
func TestHealthSource(t *testing.T) {
	testchild.NeedRoot(t)
	setpriv := testchild.NeedCommand(t, "setpriv")
	for _, tc := range []struct {
		name    string
		prefix  []string
		source  string
		text    string
		whyPart string
	}{
		{"root", nil, "bpf", "CLOSE_WAIT from BPF events", "inet_sock_set_state"},
		{"without CAP_BPF", []string{setpriv, "--bounding-set", "-bpf,-perfmon,-sys_admin", "--inh-caps", "-all", "--"},
			"netlink", "CLOSE_WAIT from netlink dump", "CAP_BPF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, helperChild("idle", "idle"))
			argv := append(tc.prefix, os.Args[0], "run", "-c", cfg, "--log-format", "json")
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			d := runDaemon(t, cmd)
			d.waitLog(t, "health scan ready")
			if src, why := d.logField("health scan ready", "source"), d.logField("health scan ready", "why"); src != tc.source || !strings.Contains(why, tc.whyPart) {
				t.Errorf("log: source %q why %q, want %s and %q", src, why, tc.source, tc.whyPart)
			}
			waitStatus(t, cfg, running("idle"))
			code, out := resreap(t, "status", "-c", cfg, "--json")
			if code != 0 {
				t.Fatalf("status --json: exit %d\n%s", code, out)
			}
			var st struct {
				Supervisor struct {
					HealthSource    string `json:"health_source"`
					HealthSourceWhy string `json:"health_source_why"`
				} `json:"supervisor"`
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if st.Supervisor.HealthSource != tc.source || !strings.Contains(st.Supervisor.HealthSourceWhy, tc.whyPart) {
				t.Errorf("status --json: %+v", st.Supervisor)
			}
			if _, out := resreap(t, "status", "-c", cfg); !strings.Contains(out, tc.text) {
				t.Errorf("status:\n%s\nwant %q", out, tc.text)
			}
		})
	}
}
