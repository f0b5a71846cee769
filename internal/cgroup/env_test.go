//go:build linux

package cgroup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
)

// patience bounds every wait of the tests: generous, for a loaded 2-core
// machine; a passing test never waits it out.
const patience = 10 * time.Second

// needHierarchy returns a writable cgroup2 hierarchy. Without one the test
// fails when CI=true (CI machines have one: a missing hierarchy there is a
// broken machine or a broken Detect) and is skipped elsewhere.
func needHierarchy(t *testing.T) Hierarchy {
	t.Helper()
	h, err := Detect()
	if err == nil && !h.Writable {
		err = h.CheckWritable()
	}
	testchild.Need(t, fmt.Sprintf("a writable cgroup2 hierarchy (%v)", err), err == nil)
	return h
}

// newTestGroup creates an empty cgroup "resreap-test-<pid>-<random>" below
// the test process's own cgroup. At cleanup it kills whatever is left in
// it, waits for it to empty and removes it with its descendants; a cgroup
// that cannot be removed fails the test.
func newTestGroup(t *testing.T) Group {
	t.Helper()
	h := needHierarchy(t)
	own, err := h.OwnGroup()
	if err != nil {
		t.Fatal(err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	g, err := own.Child(fmt.Sprintf("resreap-test-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:])))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { destroyGroup(t, g) })
	return g
}

func destroyGroup(t *testing.T, g Group) {
	if ok, err := g.Exists(); !ok && err == nil {
		return // the test removed it
	}
	if err := g.Kill(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := g.WaitEmpty(ctx); err != nil {
		t.Errorf("cleanup: test cgroup %s not empty: %v", g, err)
	}
	var dirs []string
	_ = filepath.WalkDir(g.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- { // children first
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: leftover test cgroup: %v", err)
		}
	}
	if ok, err := g.Exists(); ok || err != nil {
		t.Errorf("cleanup: leftover test cgroup %s (%v)", g, err)
	}
}

// startIn starts argv as a child created inside g by clone3, with no
// stdio. At cleanup the child is killed and reaped; its descendants are
// left to the group's cleanup.
func startIn(t *testing.T, g Group, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := commandIn(t, g, argv...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reap(cmd) })
	return cmd
}

// commandIn returns a command whose process will be created inside g. The
// cgroup fd only has to live until Start returns; it is closed at cleanup.
func commandIn(t *testing.T, g Group, argv ...string) *exec.Cmd {
	t.Helper()
	f, err := g.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	return cmd
}

// startOutside starts argv in the test's own cgroup and reaps it at cleanup.
func startOutside(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reap(cmd) })
	return cmd
}

// reap kills cmd if it still runs and waits for it; no zombie is left.
func reap(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", patience, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procState returns the state letter of pid from /proc/<pid>/stat ('S',
// 'R', 'Z', ...), or 0 when there is no such process.
func procState(pid int) byte {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0
	}
	return s[i+2]
}

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	st := procState(pid)
	return st != 0 && st != 'Z' && st != 'X'
}

// procField returns field n (1-based, as in proc(5)) of /proc/<pid>/stat.
func procField(pid, n int) (string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if n < 3 || n-3 >= len(f) {
		return "", fmt.Errorf("no field %d in /proc/%d/stat", n, pid)
	}
	return f[n-3], nil
}

// comm returns the command name of pid, "" if it is gone.
func comm(pid int) string {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(data))
}

// procsNamed returns the PIDs in g (and below) whose command is name.
func procsNamed(g Group, name string) ([]int, error) {
	pids, err := g.treeProcs()
	var out []int
	for _, p := range pids {
		if comm(p) == name {
			out = append(out, p)
		}
	}
	return out, err
}
