//go:build linux

package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/supervisor"
)

func TestCommands(t *testing.T) {
	h := &fakeHandler{}
	path := filepath.Join(t.TempDir(), "run", "control.sock")
	serve(t, path, Options{}, h)
	fe := h.stopReport("fe")
	restarted := func() *StopReport { r, _ := h.Restart(context.Background(), "fe", time.Second); return &r }()

	tests := []struct {
		name string
		req  Request
		want Response
	}{
		{"status", Request{Cmd: "status"}, func() Response { sup, st := h.Status(); return Response{OK: true, Supervisor: &sup, Status: st} }()},
		{"start", Request{Cmd: "start", Child: "fe"},
			Response{OK: true, Status: []ChildStatus{{Name: "fe", State: "starting", PID: 1300, Since: since}}}},
		{"start fails", Request{Cmd: "start", Child: "broken"},
			Response{Error: `child "broken": start: exec: permission denied`, Code: CodeFailure}},
		{"stop", Request{Cmd: "stop", Child: "fe"}, Response{OK: true, Stop: &fe}},
		{"restart", Request{Cmd: "restart", Child: "fe"}, Response{OK: true, Stop: restarted}},
		{"reload", Request{Cmd: "reload"}, Response{OK: true, Reload: &ReloadReport{
			Started: []string{"api"}, Restarted: []string{"fe"}, Unchanged: []string{"broken"}}}},
		{"signal", Request{Cmd: "signal", Child: "fe", Signal: "HUP"}, Response{OK: true}},
		{"signal sig prefix lower case", Request{Cmd: "signal", Child: "fe", Signal: "sigusr1"}, Response{OK: true}},

		{"unknown command", Request{Cmd: "explode"}, Response{Error: `unknown command "explode"`, Code: CodeUsage}},
		{"missing command", Request{}, Response{Error: "missing command", Code: CodeUsage}},
		{"start unknown child", Request{Cmd: "start", Child: "x"}, Response{Error: `unknown child "x"`, Code: CodeUsage}},
		{"stop unknown child", Request{Cmd: "stop", Child: "x"}, Response{Error: `unknown child "x"`, Code: CodeUsage}},
		{"restart unknown child", Request{Cmd: "restart", Child: "x"}, Response{Error: `unknown child "x"`, Code: CodeUsage}},
		{"signal unknown child", Request{Cmd: "signal", Child: "x", Signal: "HUP"}, Response{Error: `unknown child "x"`, Code: CodeUsage}},
		{"stop without child", Request{Cmd: "stop"}, Response{Error: "stop: missing child name", Code: CodeUsage}},
		{"unknown signal", Request{Cmd: "signal", Child: "fe", Signal: "FOO"}, Response{Error: `unknown signal "FOO"`, Code: CodeUsage}},
		{"missing signal", Request{Cmd: "signal", Child: "fe"}, Response{Error: "missing signal name", Code: CodeUsage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := call(t, path, tt.req)
			if !reflect.DeepEqual(have, tt.want) {
				t.Errorf("Call(%+v)\nhave %+v\nwant %+v", tt.req, have, tt.want)
			}
		})
	}
	if have, want := h.signals(), []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1}; !reflect.DeepEqual(have, want) {
		t.Errorf("signals delivered: have %v, want %v", have, want)
	}
}

func TestReloadFailureIsRuntime(t *testing.T) {
	h := &fakeHandler{reloadErr: errors.New(`resreap.toml:3: child "fe": unknown key "comand"`)}
	path := filepath.Join(t.TempDir(), "control.sock")
	serve(t, path, Options{}, h)
	have := call(t, path, Request{Cmd: "reload"})
	if want := (Response{Error: h.reloadErr.Error(), Code: CodeFailure}); !reflect.DeepEqual(have, want) {
		t.Errorf("have %+v, want %+v", have, want)
	}
}

// rawExchange writes raw bytes, half-closes, and returns the answer line.
func rawExchange(t *testing.T, path, req string) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.UnixConn).CloseWrite()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading answer to %q: %v (got %q)", req, err, line)
	}
	return line
}

// emptySupervisor is the supervisor object of emptyHandler's status.
const emptySupervisor = `{"pid":0,"started":"0001-01-01T00:00:00Z","ownership":"","ownership_detail":"","children":0,"up":0}`

func TestWireFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	var empty emptyHandler
	serve(t, path, Options{}, empty)
	tests := []struct{ req, want string }{
		// An empty supervisor still answers a list, not null.
		{`{"cmd":"status"}` + "\n", `{"ok":true,"status":[],"supervisor":` + emptySupervisor + `}` + "\n"},
		// The last line may come without its newline.
		{`{"cmd":"status"}`, `{"ok":true,"status":[],"supervisor":` + emptySupervisor + `}` + "\n"},
		{`{"cmd":"signal","child":"fe","signal":"HUP"}` + "\n", `{"ok":true}` + "\n"},
		{`{"cmd":"stop","child":"nope"}` + "\n", `{"ok":false,"error":"unknown child \"nope\"","code":2}` + "\n"},
	}
	for _, tt := range tests {
		if have := rawExchange(t, path, tt.req); have != tt.want {
			t.Errorf("request %q:\nhave %q\nwant %q", tt.req, have, tt.want)
		}
	}
	var resp Response
	if err := json.Unmarshal([]byte(rawExchange(t, path, "status please\n")), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.OK || resp.Code != CodeUsage || !strings.HasPrefix(resp.Error, "malformed request") {
		t.Errorf("malformed request answered %+v, want a usage error", resp)
	}
}

// emptyHandler supervises nothing and knows only "fe" for signal.
type emptyHandler struct{}

func (emptyHandler) Status() (Supervisor, []ChildStatus) { return Supervisor{}, nil }
func (emptyHandler) Start(_ context.Context, c string, _ time.Duration) (ChildStatus, error) {
	return ChildStatus{}, unknown(c)
}
func (emptyHandler) Stop(_ context.Context, c string) (StopReport, error) {
	return StopReport{}, unknown(c)
}
func (emptyHandler) Restart(_ context.Context, c string, _ time.Duration) (StopReport, error) {
	return StopReport{}, unknown(c)
}
func (emptyHandler) Reload(context.Context) (ReloadReport, error) { return ReloadReport{}, nil }
func (emptyHandler) Signal(_ context.Context, c string, _ syscall.Signal, _ bool) error {
	if c == "fe" {
		return nil
	}
	return unknown(c)
}

func unknown(c string) error { return &wrapped{c} }

// wrapped wraps supervisor.ErrUnknownChild the way a handler's own error type might.
type wrapped struct{ child string }

func (w *wrapped) Error() string { return `unknown child "` + w.child + `"` }
func (w *wrapped) Unwrap() error { return supervisor.ErrUnknownChild }

func TestStatusWhileStopInFlight(t *testing.T) {
	h := &fakeHandler{stopEntered: make(chan string, 1), stopGate: make(chan struct{})}
	path := filepath.Join(t.TempDir(), "control.sock")
	serve(t, path, Options{}, h)

	stopped := make(chan Response, 1)
	go func() {
		resp, err := Call(context.Background(), path, Request{Cmd: "stop", Child: "fe"})
		if err != nil {
			resp = Response{Error: err.Error()}
		}
		stopped <- resp
	}()
	<-h.stopEntered // the stop is now blocked inside the handler

	st := call(t, path, Request{Cmd: "status"})
	if !st.OK || len(st.Status) != 2 {
		t.Fatalf("status during a stop: %+v", st)
	}
	select {
	case r := <-stopped:
		t.Fatalf("stop answered before it was released: %+v", r)
	default:
	}
	close(h.stopGate)
	if r := <-stopped; !r.OK || r.Stop == nil || r.Stop.Child != "fe" {
		t.Fatalf("stop: %+v", r)
	}
}

func TestServeShutdown(t *testing.T) {
	h := &fakeHandler{stopEntered: make(chan string, 1), stopGate: make(chan struct{})}
	path := filepath.Join(t.TempDir(), "control.sock")
	_, stop := serve(t, path, Options{}, h)

	// A client that connects and says nothing, and one whose stop is
	// blocked in the handler: neither may keep Serve from returning.
	idle, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	stopped := make(chan Response, 1)
	go func() {
		resp, _ := Call(context.Background(), path, Request{Cmd: "stop", Child: "fe"})
		stopped <- resp
	}()
	<-h.stopEntered

	if err := stop(); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if r := <-stopped; r.OK || r.Code != CodeFailure || !strings.Contains(r.Error, "context canceled") {
		t.Errorf("stop cut short by shutdown answered %+v", r)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still present after shutdown: %v", err)
	}
	if _, err := Call(context.Background(), path, Request{Cmd: "status"}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Call after shutdown: %v, want ErrNotRunning", err)
	}
}

// A signal waiting on a child busy stopping gets the server's context: a
// shutdown answers it, as it answers a stop, instead of waiting for the
// child.
func TestSignalCutShortByShutdown(t *testing.T) {
	h := &fakeHandler{stopEntered: make(chan string, 1), stopGate: make(chan struct{})}
	path := filepath.Join(t.TempDir(), "control.sock")
	_, stop := serve(t, path, Options{}, h)

	signalled := make(chan Response, 1)
	go func() {
		resp, _ := Call(context.Background(), path, Request{Cmd: "signal", Child: "fe", Signal: "HUP"})
		signalled <- resp
	}()
	<-h.stopEntered
	if err := stop(); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if r := <-signalled; r.OK || r.Code != CodeFailure || !strings.Contains(r.Error, "context canceled") {
		t.Errorf("signal cut short by shutdown answered %+v", r)
	}
	if sent := h.signals(); len(sent) != 0 {
		t.Errorf("signals delivered: %v, want none", sent)
	}
}

func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	srv, stop := serve(t, path, Options{}, emptyHandler{})
	if r := call(t, path, Request{Cmd: "status"}); !r.OK {
		t.Fatalf("status: %+v", r)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve after Close returned %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still present after Close: %v", err)
	}
	if err := srv.Serve(context.Background(), emptyHandler{}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve after Close: %v, want net.ErrClosed", err)
	}
}
