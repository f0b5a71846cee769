//go:build linux

package control

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/resreap/resreap/internal/testchild"
)

const nobody = 65534

// sharedDir makes a directory that other users can traverse, holding a
// copy of the test binary they can run: the go build directory is private
// to root.
func sharedDir(t *testing.T) (dir, exe string) {
	t.Helper()
	testchild.NeedRoot(t) // to run a client as another user
	dir, err := os.MkdirTemp("", "resreap-control-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe = filepath.Join(dir, "control.test")
	if err := copyFile(self, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, exe
}

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// callAs runs the test binary as cred to ask path for the status, and
// returns its answer, or the text of the error its Call returned.
func callAs(t *testing.T, exe, path string, cred *syscall.Credential) (Response, string) {
	t.Helper()
	cmd := exec.Command(exe)
	cmd.Dir = filepath.Dir(exe)
	// GORACE: a race-enabled binary otherwise lingers a second at exit.
	cmd.Env = append(os.Environ(), helperEnv+"="+path, "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stderr = &strings.Builder{}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper as uid %d: %v\n%s", cred.Uid, err, cmd.Stderr)
	}
	if msg, ok := strings.CutPrefix(string(out), "error: "); ok {
		return Response{}, strings.TrimSpace(msg)
	}
	var resp Response
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	return resp, ""
}

func TestPeerCredentials(t *testing.T) {
	base, exe := sharedDir(t)
	const operators = 4242
	tests := []struct {
		name   string
		opts   Options
		cred   syscall.Credential
		widen  bool // open the file modes so that only the peer check stands
		accept bool
		dir    bool // the socket's directory exists first, 0750 root:root (made by the history, say)
	}{
		{"nobody refused", Options{}, syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}, true, false, false},
		{"nobody outside the group refused", Options{Group: "4242"},
			syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{1}}, true, false, false},
		{"root accepted", Options{}, syscall.Credential{Uid: 0, Gid: nobody, Groups: []uint32{}}, false, true, false},
		{"primary group accepted", Options{Group: "4242"},
			syscall.Credential{Uid: nobody, Gid: operators, Groups: []uint32{}}, false, true, false},
		{"supplementary group accepted", Options{Group: "4242"},
			syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{1, operators}}, false, true, false},
		{"group member through an existing 0750 directory", Options{Group: "4242"},
			syscall.Credential{Uid: nobody, Gid: operators, Groups: []uint32{}}, false, true, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(base, "run"+string(rune('a'+i)), "control.sock")
			if tt.dir {
				if err := os.Mkdir(filepath.Dir(path), 0o750); err != nil {
					t.Fatal(err)
				}
			}
			serve(t, path, tt.opts, &fakeHandler{})
			if tt.widen {
				if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			resp, callErr := callAs(t, exe, path, &tt.cred)
			if callErr != "" {
				t.Fatalf("helper could not call: %s", callErr)
			}
			if tt.accept {
				if !resp.OK || len(resp.Status) != 2 {
					t.Errorf("accepted peer got %+v", resp)
				}
				return
			}
			want := "permission denied: uid 65534 is not root or resreap's user (uid 0); set control_group to let others in"
			if tt.opts.Group != "" {
				want = `permission denied: uid 65534 is not root, resreap's user (uid 0) or a member of the control group "4242"`
			}
			if resp.OK || resp.Code != CodeFailure || resp.Error != want {
				t.Errorf("refused peer got %+v, want error %q", resp, want)
			}
		})
	}
}

// TestSocketModeRefusesOthers checks that the file mode alone keeps
// others out, with the message the command line shows.
func TestSocketModeRefusesOthers(t *testing.T) {
	base, exe := sharedDir(t)
	path := filepath.Join(base, "run", "control.sock")
	serve(t, path, Options{}, &fakeHandler{})
	// Let nobody reach the 0600 socket, not connect to it.
	if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	_, callErr := callAs(t, exe, path, &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}})
	if !strings.Contains(callErr, "permission denied") {
		t.Errorf("nobody on a 0600 socket: %q, want permission denied", callErr)
	}
}

func TestParseStatusGroups(t *testing.T) {
	tests := []struct {
		name, status string
		want         []uint32
		err          bool
	}{
		{"some", "Name:\tx\nUid:\t0\t0\t0\t0\nGroups:\t4 24 4242 \nNStgid:\t1\n", []uint32{4, 24, 4242}, false},
		{"none", "Name:\tx\nGroups:\t\nVmPeak:\t1 kB\n", nil, false},
		{"missing", "Name:\tx\n", nil, true},
		{"garbage", "Groups:\t4 x\n", nil, true},
	}
	for _, tt := range tests {
		have, err := parseStatusGroups(tt.status)
		if (err != nil) != tt.err || !reflect.DeepEqual(have, tt.want) {
			t.Errorf("%s: have %v, %v; want %v, error %v", tt.name, have, err, tt.want, tt.err)
		}
	}
}

func TestAccessCheck(t *testing.T) {
	noGroups := func() ([]uint32, error) { return nil, nil }
	failing := func() ([]uint32, error) { return nil, errors.New("no such process") }
	groups := func() ([]uint32, error) { return []uint32{7, 50}, nil }
	private := access{owner: 1000}
	shared := access{owner: 1000, gid: 50, group: true}
	tests := []struct {
		name   string
		a      access
		p      peer
		groups func() ([]uint32, error)
		allow  bool
	}{
		{"root", private, peer{UID: 0, GID: 9}, failing, true},
		{"owner", private, peer{UID: 1000, GID: 9}, failing, true},
		{"other", private, peer{UID: 1001, GID: 50}, groups, false},
		{"primary group", shared, peer{UID: 1001, GID: 50}, failing, true},
		{"supplementary group", shared, peer{UID: 1001, GID: 9}, groups, true},
		{"not in group", shared, peer{UID: 1001, GID: 9}, noGroups, false},
		{"groups unreadable", shared, peer{UID: 1001, GID: 9}, failing, false},
	}
	for _, tt := range tests {
		if err := tt.a.check(tt.p, tt.groups); (err == nil) != tt.allow {
			t.Errorf("%s: check = %v, want allowed %v", tt.name, err, tt.allow)
		}
	}
}
