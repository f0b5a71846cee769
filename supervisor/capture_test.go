//go:build linux

package supervisor

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/testchild"
)

// Captures land in <capture_dir>/<child>/<name>/, created root's 0700
// (files 0600); a child name that is not one directory entry ("..", ".")
// is refused rather than landing beside the capture directory, and
// pruning keeps the newest; a link among them is no capture, neither
// counted nor followed.
func TestCaptureDirectories(t *testing.T) {
	base := t.TempDir()
	caps := filepath.Join(base, "caps")
	spec := config.DefaultChild()
	spec.Name, spec.Capture.Dir = "fe", caps
	d, err := openCaptures(&spec)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"20260101T000000.000Z-1", "20260101T000001.000Z-2", "20260101T000002.000Z-3"} {
		if err := writeCapture(d, name, captureFiles{"status": []byte("x"), "fds.txt": []byte("y")}); err != nil {
			t.Fatal(err)
		}
	}
	// A second write into an existing capture adds to it.
	if err := writeCapture(d, "20260101T000002.000Z-3", captureFiles{"output.txt": []byte("z")}); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(base, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(caps, "fe", "20250101T000000.000Z-9")); err != nil {
		t.Fatal(err)
	}
	if err := pruneCaptures(d, 2); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(caps, "fe"))
	var have []string
	for _, e := range ents {
		have = append(have, e.Name())
	}
	if want := []string{"20250101T000000.000Z-9", "20260101T000001.000Z-2", "20260101T000002.000Z-3"}; !slices.Equal(have, want) {
		t.Errorf("after pruning to 2: %v, want %v (a link is no capture)", have, want)
	}
	for path, mode := range map[string]os.FileMode{
		caps: 0o700, filepath.Join(caps, "fe"): 0o700, filepath.Join(caps, "fe", "20260101T000002.000Z-3"): 0o700,
		filepath.Join(caps, "fe", "20260101T000002.000Z-3", "output.txt"): 0o600,
	} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %v", path, st.Mode(), err, mode)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the link's target: %v", err)
	}

	for _, name := range []string{"..", "."} {
		spec.Name = name
		if d, err := openCaptures(&spec); err == nil {
			d.Close()
			t.Errorf("child %q: captures opened in %s", name, d.Path())
		}
	}
}

// readCapture reads the test process's own state: its CLOSE_WAIT socket
// with the fd that holds it, in close_wait.txt as ss -tnp shows it and in
// fds.txt as ls -l /proc/PID/fd does, its status and limits, and the
// evidence.
func TestReadCapture(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var fd int
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	holder := fmt.Sprintf("pid=%d,fd=%d", pid, fd)
	ev := &health.Evidence{Reason: health.ReasonCloseWait, CloseWait: 1}
	var files captureFiles
	testchild.WaitFor(t, "the socket in CLOSE_WAIT", func() bool {
		files = readCapture([]int{pid}, ev)
		return strings.Contains(string(files["close_wait.txt"]), holder)
	})

	cw := string(files["close_wait.txt"])
	line := regexp.MustCompile(`(?m)^CLOSE-WAIT +` + regexp.QuoteMeta(c.LocalAddr().String()) + ` +` + regexp.QuoteMeta(addr) + ` +` + holder + `$`)
	n := strings.Count(cw, "CLOSE-WAIT")
	if !strings.HasPrefix(cw, "STATE ") || !line.MatchString(cw) || !strings.HasSuffix(cw, "\n"+plural(n, "socket", "sockets")+" in CLOSE_WAIT\n") {
		t.Errorf("close_wait.txt lacks %s:\n%s", holder, cw)
	}
	row := regexp.MustCompile(fmt.Sprintf(`(?m)^%d +%d +socket:\[\d+\]$`, pid, fd))
	if fds := string(files["fds.txt"]); !strings.HasPrefix(fds, "PID ") || !row.MatchString(fds) {
		t.Errorf("fds.txt lacks fd %d:\n%s", fd, fds)
	}
	if st := string(files["status"]); !strings.Contains(st, fmt.Sprintf("Pid:\t%d\n", pid)) {
		t.Errorf("status is not ours:\n%s", st)
	}
	if !strings.Contains(string(files["limits"]), "Max open files") {
		t.Errorf("limits:\n%s", files["limits"])
	}
	if want, _ := json.MarshalIndent(ev, "", "  "); string(files["evidence.json"]) != string(want)+"\n" {
		t.Errorf("evidence.json:\n%s", files["evidence.json"])
	}
}

// A process that is gone leaves a capture that says so, file by file.
func TestReadCaptureGone(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b)) // one above the highest PID
	n, _ := strconv.Atoi(pid)
	files := readCapture([]int{n}, nil)
	want := captureFiles{
		"status": []byte("cannot read /proc/" + pid + "/status: open /proc/" + pid + "/status: no such file or directory\n"),
		"limits": []byte("cannot read /proc/" + pid + "/limits: open /proc/" + pid + "/limits: no such file or directory\n"),
		"fds.txt": []byte("PID" + strings.Repeat(" ", len(pid)-1) + "FD  TARGET\n" +
			pid + "  -   cannot read /proc/" + pid + "/fd: open /proc/" + pid + "/fd: no such file or directory\n"),
		"close_wait.txt": []byte("STATE  LOCAL  PEER  PROCESS\n0 sockets in CLOSE_WAIT\ncannot read the network namespace of any of pids [" + pid + "]\n"),
	}
	for name, w := range want {
		if string(files[name]) != string(w) {
			t.Errorf("%s:\n%q\nwant\n%q", name, files[name], w)
		}
	}
	if len(files) != len(want) {
		t.Errorf("files %v, want those of %v", slices.Sorted(maps.Keys(files)), slices.Sorted(maps.Keys(want)))
	}
}
