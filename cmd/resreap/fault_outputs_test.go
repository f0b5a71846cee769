//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// Outputs and captures: a child's user owns the directory resreap, as
// root, writes the child's output files or captures in, and plants links
// there; no root file changes and no root directory loses an entry.

// userChild is a child running as user u that prints "out" every 50ms.
func userChild(name string, u testchild.User, extra string) string {
	return fmt.Sprintf("[[child]]\nname = %q\nuser = %q\ncommand = [\"sh\", \"-c\", \"while :; do echo out; sleep 0.05; done\"]\n%s\n",
		name, u.Name, extra)
}

// trustBase is a root test directory other users can enter, for the
// directories a test user owns inside it (t.TempDir's are 0700 down from
// its parent).
func trustBase(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// userOwned makes the directory path owned by u, mode 0755.
func userOwned(t *testing.T, path string, u testchild.User) string {
	t.Helper()
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	return path
}

// rootVictim makes a root file (0600) that no test may change, in a root
// directory other users can enter (a hard link needs that), and returns a
// check that it did not change.
func rootVictim(t *testing.T, dir string) (path string, unchanged func() string) {
	t.Helper()
	path = filepath.Join(dir, "victim")
	const data = "root data\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil || string(b) != data {
			t.Errorf("root file %s changed: %d bytes (was %d), %v", path, len(b), len(data), err)
		}
		return fmt.Sprintf("%d bytes (was %d)", len(b), len(data))
	}
}

// grown reports whether the file at path is no longer n bytes long.
func grown(path string, n int64) bool {
	st, err := os.Stat(path)
	return err != nil || st.Size() != n
}

// setSysctl writes value to a /proc/sys file and restores it at cleanup.
func setSysctl(t *testing.T, path, value string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		testchild.Need(t, path, false)
	}
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0) }) //nolint:errcheck // best effort
}

// The child's user owns its log directory and, while resreap runs,
// replaces app.log by a link to a root file, symbolic or hard: resreap
// refuses to write through it. (Planted before resreap starts, `run`
// refuses the whole file: TestFaultPathsPlanted.) Each start after it
// fails, saying which file and why (the child's output would otherwise go
// nowhere while status says running), and the root file is unchanged.
func TestFaultOutputPlantedLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		ln   []string // the user's command, before its two paths
		why  string   // in the refusal
	}{
		{"symlink", []string{"ln", "-s"}, "a symbolic link"},
		{"hardlink", []string{"ln"}, "hard links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := testchild.NewUser(t)
			dir := trustBase(t)
			victim, unchanged := rootVictim(t, dir)
			logs := userOwned(t, filepath.Join(dir, "logs"), u)
			if tc.name == "hardlink" {
				// fs.protected_hardlinks = 1 stops the user linking a file
				// it cannot write; a host with 0 lets it.
				setSysctl(t, "/proc/sys/fs/protected_hardlinks", "0")
			}
			log := filepath.Join(logs, "app.log")
			cfg := faultConfig(t, dir, "", userChild("app", u, fmt.Sprintf("stdout = { file = %q }", log)))
			r := startRun(t, cfg, runOpts{})
			testchild.WaitFor(t, "the first start", func() bool {
				return len(readHistory(t, dir, history.Filter{Events: []history.Event{history.EventStart}})) > 0
			})
			u.Run(t, "rm", "-f", log)
			u.Run(t, append(tc.ln, victim, log)...)
			// The child dies; its next start finds the link.
			if code, out, _ := ctl("signal", "app", "KILL", "-c", cfg); code != 0 {
				t.Fatalf("signal app KILL: exit %d: %s", code, out)
			}
			var failed []history.Record
			testchild.WaitFor(t, "three refused starts", func() bool {
				failed = nil
				for _, rec := range readHistory(t, dir, history.Filter{Events: []history.Event{history.EventStart}}) {
					if rec.Reason == history.ReasonStartFailed {
						failed = append(failed, rec)
					}
				}
				return len(failed) >= 3 || r.exited() || grown(victim, int64(len("root data\n")))
			})
			r.stop(t, syscall.SIGTERM, time.Minute)
			after := unchanged()
			if len(failed) == 0 {
				t.Fatal("no start refused")
			}
			msg := failed[0].Message
			if !strings.Contains(msg, log) || !strings.Contains(msg, tc.why) {
				t.Errorf("refusal %q: want the file and %q", msg, tc.why)
			}
			t.Logf("%s planted: root file %s; %d starts refused: %s", tc.name, after, len(failed), msg)
		})
	}
}

// A capture directory the children's user owns, with caps/<child> planted
// as a link to a root directory: after health stops with capture_keep = 1
// the root directory has lost no entry (and gained none); the capture is
// refused and the refusal logged. A child of the same user without a
// planted link gets its captures there, the newest one kept.
func TestFaultCapturePlantedLink(t *testing.T) {
	u := testchild.NewUser(t)
	dir := trustBase(t)
	caps := userOwned(t, filepath.Join(dir, "caps"), u)
	rootDir := filepath.Join(dir, "rootdir")
	want := []string{"a", "b", "c"}
	for _, n := range want {
		if err := os.MkdirAll(filepath.Join(rootDir, n), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rootDir, n, "data"), []byte(n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u.Run(t, "ln", "-s", rootDir, filepath.Join(caps, "app"))

	// Ten fds held (0-9) against a limit of 5: unhealthy at every scan.
	child := func(name string) string {
		return fmt.Sprintf("[[child]]\nname = %q\nuser = %q\n"+
			"command = [\"sh\", \"-c\", \"exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null 9</dev/null; exec sleep 1000\"]\n"+
			"health = { interval = \"200ms\", fds = { max_open = 5, persist = 1 } }\n"+
			"capture = true\ncapture_dir = %q\ncapture_keep = 1\n", name, u.Name, caps)
	}
	cfg := faultConfig(t, dir, "", child("app")+child("ok"))
	r := startRun(t, cfg, runOpts{})
	var stops []history.Record
	testchild.WaitFor(t, "two health stops of each child", func() bool {
		stops = nil
		n := map[string]int{}
		for _, rec := range readHistory(t, dir, history.Filter{Events: []history.Event{history.EventStop}}) {
			if rec.Reason == history.ReasonFDExhaustion {
				stops = append(stops, rec)
				n[rec.Child]++
			}
		}
		return n["app"] >= 2 && n["ok"] >= 2 || r.exited()
	})
	r.stop(t, syscall.SIGTERM, time.Minute) // it waits for the capture writers
	refusals := r.logsWhere(func(m map[string]any) bool {
		return m["message"] == "capture not saved" && strings.Contains(fmt.Sprint(m["error"]), "symbolic link")
	})
	if len(refusals) == 0 {
		t.Error("no refused capture logged")
		refusals = append(refusals, map[string]any{})
	}
	var have []string
	ents, err := os.ReadDir(rootDir)
	for _, e := range ents {
		have = append(have, e.Name())
	}
	if err != nil || !slices.Equal(have, want) {
		t.Errorf("root directory %s holds %v (%v), want %v", rootDir, have, err, want)
	}
	var last string // the newest capture of ok
	for _, rec := range stops {
		if rec.Child == "ok" {
			last = rec.Capture
		}
	}
	kept := dirNames(t, filepath.Join(caps, "ok"))
	if len(kept) != 1 || filepath.Join(caps, "ok", kept[0]) != last {
		t.Errorf("captures of ok: %v, want the newest alone, %s", kept, last)
	} else {
		// In the user's capture directory the directories are the
		// user's (a root directory there would be refused as an unsafe
		// transition), the files root's.
		for _, f := range []struct {
			path string
			uid  int
			mode os.FileMode
		}{{last, u.UID, 0o700}, {filepath.Join(last, "status"), 0, 0o600}} {
			st, err := os.Stat(f.path)
			if err != nil || st.Mode().Perm() != f.mode || int(st.Sys().(*syscall.Stat_t).Uid) != f.uid {
				t.Errorf("%s: %v %v, want uid %d, %v", f.path, st.Mode(), err, f.uid, f.mode)
			}
		}
	}
	t.Logf("capture link planted: %d health stops; root directory holds %v (was %v); %d refusals logged: %v; ok keeps %v",
		len(stops), have, want, len(refusals), refusals[0]["error"], kept)
}

// dirNames lists the names in dir (none when it cannot be read).
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Logf("%s: %v", dir, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// Output files are created for whoever must read them: by default owned
// by the child's user and its group, mode 0640 (root's for a child
// without a user), or as owner, group and mode say; the directory
// resreap makes for them is root's, 0755.
func TestFaultOutputOwnerMode(t *testing.T) {
	u := testchild.NewUser(t)
	dir := trustBase(t)
	logs := filepath.Join(dir, "logs") // made by resreap
	talk := `command = ["sh", "-c", "while :; do echo out; echo err >&2; sleep 0.05; done"]`
	children := fmt.Sprintf(`
[[child]]
name = "app"
user = %[1]q
%[2]s
stdout = { file = %[3]q }
stderr = { file = %[4]q, owner = "root", group = %[1]q, mode = "0660" }

[[child]]
name = "rootapp"
%[2]s
stdout = { file = %[5]q }
stderr = "null"
`, u.Name, talk, filepath.Join(logs, "app.log"), filepath.Join(logs, "app.err"), filepath.Join(logs, "root.log"))
	cfg := faultConfig(t, dir, "", children)
	startRun(t, cfg, runOpts{})
	for _, want := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
	}{
		{"app.log", u.UID, u.GID, 0o640},
		{"app.err", 0, u.GID, 0o660},
		{"root.log", 0, 0, 0o640},
	} {
		path := filepath.Join(logs, want.name)
		var st os.FileInfo
		testchild.WaitFor(t, want.name+" written", func() bool {
			var err error
			st, err = os.Stat(path)
			return err == nil && st.Size() > 0
		})
		sys := st.Sys().(*syscall.Stat_t)
		if int(sys.Uid) != want.uid || int(sys.Gid) != want.gid || st.Mode().Perm() != want.mode {
			t.Errorf("%s: %d:%d %v, want %d:%d %v", want.name, sys.Uid, sys.Gid, st.Mode().Perm(), want.uid, want.gid, want.mode)
		}
		t.Logf("%s: owner %d:%d mode %v (user %d:%d)", want.name, sys.Uid, sys.Gid, st.Mode().Perm(), u.UID, u.GID)
	}
	if st, err := os.Stat(logs); err != nil || st.Mode().Perm() != 0o755 || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("log directory made: %v %v", st, err)
	}
}
