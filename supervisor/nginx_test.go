//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/testchild"
)

// nginxSpec is stock nginx serving its worker's PID on a socket resreap
// holds at addr, passed the way nginx inherits sockets on a binary
// upgrade (NGINX="3;"), stopped gracefully with QUIT, restarted by
// surge. nginx speaks no readiness protocol: a generation is ready once
// it has stayed up start_seconds (its workers accept within
// milliseconds of the start).
func nginxSpec(t *testing.T, nginx, addr string) config.ChildSpec {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	text := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		location / { return 200 "hello $pid\n"; }
	}
}
`, dir, addr)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := config.DefaultChild()
	spec.Name = "nginx"
	spec.Command = []string{nginx, "-e", "stderr", "-p", dir, "-c", conf}
	spec.Listen = []config.ListenSpec{{Name: "http", Address: addr, Backlog: 1024}}
	spec.Pass = config.PassNginx
	spec.RestartMode = config.RestartSurge
	spec.StartGrace = 500 * time.Millisecond
	spec.Stop = config.StopSpec{Steps: []config.StopStep{{Signal: unix.SIGQUIT, Wait: 20 * time.Second}}, KillWait: 10 * time.Second}
	spec.Health.Policy.CloseWait.Disabled = true
	spec.Health.Policy.FDs.Disabled = true
	return spec
}

// Real nginx, restarted three times under load with pass = "nginx" and
// QUIT: no request fails, and each generation's worker served.
func TestNginxSurgeUnderLoad(t *testing.T) {
	testchild.NeedRoot(t)
	cgrouptest.Need(t)
	nginx := testchild.NeedCommand(t, "nginx")
	addr := freePort(t)
	h := startConfig(t, leftoverChecked(t, cgroupConfig(t, config.CgroupAuto, nginxSpec(t, nginx, addr))), Options{})
	st := h.waitState(t, "nginx", Running, 30*time.Second)
	load := startLoad(t, addr, 4)
	testchild.WaitFor(t, "answers from nginx", func() bool { return load.ok.Load() >= 20 })
	pid := st.PID
	for i := range 3 {
		served := len(load.servedBy())
		if _, _, err := h.sup.RestartChild(context.Background(), "nginx", 30*time.Second); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		now := h.sup.Status()[0]
		if now.PID == pid || now.State != Running {
			t.Fatalf("restart %d: status %+v", i, now)
		}
		waitGone(t, pid, 30*time.Second)
		pid = now.PID
		testchild.WaitFor(t, "a worker of generation "+strconv.Itoa(i+2), func() bool { return len(load.servedBy()) > served })
	}
	load.end()
	if n := load.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed: %q", n, n+load.ok.Load(), load.errs)
	}
	if served := load.servedBy(); len(served) != 4 {
		t.Errorf("served by %d workers (%v), want one per generation, 4", len(served), served)
	}
}
