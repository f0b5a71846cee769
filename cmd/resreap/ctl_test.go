//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/supervisor"
	"github.com/resreap/resreap/supervisor/control"
)

// ctlHandler knows the children "fe" and "broken" (whose start fails).
type ctlHandler struct{}

func (ctlHandler) known(c string) error {
	if c != "fe" && c != "broken" {
		return fmt.Errorf("%w %q", supervisor.ErrUnknownChild, c)
	}
	return nil
}

func (ctlHandler) Status() (control.Supervisor, []control.ChildStatus) {
	return control.Supervisor{PID: 1, Started: time.Now(), Ownership: "cgroup", OwnershipDetail: "/resreap", Children: 2, Up: 1},
		[]control.ChildStatus{
			{Name: "fe", State: "running", Up: true, Ready: true, PID: 1234, Uptime: history.Duration(time.Minute), FDs: &control.FDs{PID: 1234, Open: 9, Limit: 1024}},
			{Name: "broken", State: "fatal", LastReason: "start_failed"},
		}
}

func (h ctlHandler) Start(_ context.Context, c string, _ time.Duration) (control.ChildStatus, error) {
	if err := h.known(c); err != nil {
		return control.ChildStatus{}, err
	}
	if c == "broken" {
		return control.ChildStatus{}, fmt.Errorf("child %q: start: exec: permission denied", c)
	}
	return control.ChildStatus{Name: c, State: "starting", PID: 1300}, nil
}

func (h ctlHandler) Stop(_ context.Context, c string) (control.StopReport, error) {
	if err := h.known(c); err != nil {
		return control.StopReport{}, err
	}
	return control.StopReport{Child: c, PID: 1234, Signal: "TERM", Duration: history.Duration(1200 * time.Millisecond),
		SignalsSent: []history.SignalSent{{Signal: "TERM"}}}, nil
}

func (h ctlHandler) Restart(ctx context.Context, c string, _ time.Duration) (control.StopReport, error) {
	rep, err := h.Stop(ctx, c)
	rep.Started = &control.ChildStatus{Name: c, State: "running", PID: 1301}
	return rep, err
}

func (ctlHandler) Reload(context.Context) (control.ReloadReport, error) {
	return control.ReloadReport{Restarted: []string{"fe"}}, nil
}

func (h ctlHandler) Signal(_ context.Context, c string, _ syscall.Signal, _ bool) error {
	return h.known(c)
}

func serveCtl(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.sock")
	srv, err := control.Listen(path, control.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ctlHandler{}) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

func TestRunCtl(t *testing.T) {
	path := serveCtl(t)
	dir := t.TempDir()
	goodConfig := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(goodConfig, []byte(fmt.Sprintf(
		"[supervisor]\ncontrol_socket = %q\n\n[[child]]\nname = \"fe\"\ncommand = [\"true\"]\n", path)), 0o600); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(badConfig, []byte("[supervisor]\ncontrol_sockett = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.sock")

	tests := []struct {
		cmd         string
		args        []string
		code        int
		out, errOut string // substrings of stdout and stderr
	}{
		{"status", []string{"-s", path}, 1, "1 of 2 children up; owned by cgroup (/resreap)", ""}, // broken is fatal
		{"status", []string{"-s", path, "fe"}, 0, "fe     running 0s  1234", ""},
		{"status", []string{"-s", path, "broken"}, 1, "broken  fatal", ""},
		{"status", []string{"-s", path, "nope"}, 2, "", `unknown child "nope"`},
		{"status", []string{"--socket", path, "--json", "fe"}, 0, `"name": "fe"`, ""},
		{"status", []string{"-c", goodConfig, "fe"}, 0, "fe     running 0s  1234", ""},
		{"status", []string{"-c", badConfig}, 2, "", "control_sockett"},
		{"status", []string{"-s", missing}, 1, "", "resreap is not running (no control socket at " + missing + ")"},
		{"status", []string{"--bogus"}, 2, "", "unknown flag"},
		{"start", []string{"-s", path, "fe"}, 0, "fe starting (pid 1300)", ""},
		{"start", []string{"-s", path, "broken"}, 1, "", `resreap start: child "broken": start: exec: permission denied`},
		{"start", []string{"-s", path, "nope"}, 2, "", `resreap start: unknown child "nope"`},
		{"start", []string{"-s", path}, 2, "", "usage: resreap start [-c CONFIG | -s SOCKET] [--json] NAME... | all"},
		{"start", []string{"-s", path, "fe", "broken"}, 1, "fe starting (pid 1300)", `child "broken": start`},
		{"start", []string{"-s", path, "all"}, 1, "fe starting (pid 1300)", `child "broken": start`},
		{"stop", []string{"-s", path, "fe"}, 0, "fe pid 1234 stopped by TERM after 1.2s (sent TERM)", ""},
		{"stop", []string{"-s", missing, "fe"}, 1, "", "resreap is not running"},
		{"restart", []string{"-s", path, "fe"}, 0, "stopped by TERM after 1.2s (sent TERM); running (pid 1301)", ""},
		{"restart", []string{"--help"}, 0, "resreap restart a b c", ""},
		{"stop", []string{"--version"}, 0, "resreap ", ""},
		{"restart", []string{"-s", path, "nope"}, 2, "", `unknown child "nope"`},
		{"reload", []string{"-s", path}, 0, "reloaded: restarted fe", ""},
		{"signal", []string{"-s", path, "fe", "sighup"}, 0, "sent HUP to every process of fe", ""},
		{"signal", []string{"-s", path, "nope", "HUP"}, 2, "", `unknown child "nope"`},
		{"signal", []string{"-s", missing, "fe", "FOO"}, 2, "", `unknown signal "FOO"`},
		{"signal", []string{"-s", path, "fe"}, 2, "", "usage: resreap signal"},
		{"explode", nil, 2, "", "unknown control command"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut strings.Builder
			code := runCtl(tt.cmd, tt.args, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.errOut) {
				t.Errorf("runCtl(%s %q) = %d, want %d\nstdout: %q (want %q)\nstderr: %q (want %q)",
					tt.cmd, tt.args, code, tt.code, out.String(), tt.out, errOut.String(), tt.errOut)
			}
		})
	}
}

func TestRunCtlStatusJSON(t *testing.T) {
	path := serveCtl(t)
	var out, errOut strings.Builder
	if code := runCtl("status", []string{"-s", path, "--json", "fe"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var st struct {
		Supervisor control.Supervisor    `json:"supervisor"`
		Children   []control.ChildStatus `json:"children"`
	}
	if err := json.Unmarshal([]byte(out.String()), &st); err != nil {
		t.Fatalf("status --json is not the documented object: %v\n%s", err, out.String())
	}
	if len(st.Children) != 1 || st.Children[0].Name != "fe" || st.Children[0].PID != 1234 || !st.Children[0].Up || st.Supervisor.Ownership != "cgroup" {
		t.Errorf("status --json = %+v", st)
	}
}
