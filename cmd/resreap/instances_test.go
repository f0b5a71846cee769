//go:build linux

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestExpandNames(t *testing.T) {
	known := []string{"fe.0", "fe.1", "fe.10", "fe.2", "fe.x", "fe", "db", "fe.01"}
	for _, tc := range []struct {
		names, want []string
	}{
		{[]string{"fe"}, []string{"fe"}}, // an exact name wins
		{[]string{"db"}, []string{"db"}},
		{[]string{"nope"}, []string{"nope"}}, // resreap refuses it
		{[]string{"all"}, known},
	} {
		if got := expandNames(known, tc.names); !slices.Equal(got, tc.want) {
			t.Errorf("expandNames(%v) = %v, want %v", tc.names, got, tc.want)
		}
	}
	copies := []string{"web.2", "web.0", "web.10", "web.1", "webby.0", "web.01"}
	if got, want := expandNames(copies, []string{"web"}), []string{"web.0", "web.1", "web.2", "web.10"}; !slices.Equal(got, want) {
		t.Errorf("expandNames(web) = %v, want %v", got, want)
	}
}

// instances = N starts N copies whose argv and env carry their number and
// name; status, restart and reload take the child's name for all of them,
// and a reload that changes N starts or stops only the difference.
func TestInstancesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	child := func(n int) string {
		return fmt.Sprintf(`
[[child]]
name = "fe"
command = ["sleep", "100{instance}"]
env = { SLOT = "{instance}", WHO = "{name}" }
instances = %d
`, n)
	}
	cfg := writeConfig(t, dir, child(2))
	startDaemon(t, cfg)
	st := waitStatus(t, cfg, running("fe.0", "fe.1"))
	for i := range 2 {
		pid := int(st[fmt.Sprintf("fe.%d", i)]["pid"].(float64))
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("sleep\x00100%d\x00", i); string(cmdline) != want {
			t.Errorf("fe.%d argv %q, want %q", i, cmdline, want)
		}
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		env := strings.Split(string(environ), "\x00")
		for _, want := range []string{fmt.Sprintf("SLOT=%d", i), fmt.Sprintf("WHO=fe.%d", i)} {
			if !slices.Contains(env, want) {
				t.Errorf("fe.%d env lacks %s", i, want)
			}
		}
	}

	code, out := resreap(t, "status", "fe", "-c", cfg)
	if code != 0 {
		t.Fatalf("status fe: exit %d: %s", code, out)
	}
	contains(t, out, "fe.0", "fe.1")

	code, out = resreap(t, "restart", "fe", "-c", cfg)
	if code != 0 || strings.Index(out, "fe.0") > strings.Index(out, "fe.1") {
		t.Fatalf("restart fe: exit %d, want fe.0 then fe.1: %s", code, out)
	}
	st2 := waitStatus(t, cfg, running("fe.0", "fe.1"))
	for _, n := range []string{"fe.0", "fe.1"} {
		if st2[n]["pid"] == st[n]["pid"] {
			t.Errorf("%s not restarted", n)
		}
	}

	writeConfig(t, dir, child(3))
	if code, out = resreap(t, "reload", "-c", cfg); code != 0 {
		t.Fatalf("reload to 3: exit %d: %s", code, out)
	}
	st3 := waitStatus(t, cfg, running("fe.0", "fe.1", "fe.2"))
	for _, n := range []string{"fe.0", "fe.1"} {
		if st3[n]["pid"] != st2[n]["pid"] {
			t.Errorf("reload to 3 instances restarted %s", n)
		}
	}

	writeConfig(t, dir, child(1))
	if code, out = resreap(t, "reload", "-c", cfg); code != 0 {
		t.Fatalf("reload to 1: exit %d: %s", code, out)
	}
	st4 := waitStatus(t, cfg, func(m map[string]map[string]any) bool { return len(m) == 1 && m["fe.0"] != nil })
	if st4["fe.0"]["pid"] != st3["fe.0"]["pid"] {
		t.Errorf("reload to 1 instance restarted fe.0")
	}
}
