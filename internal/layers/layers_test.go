//go:build linux

// Package layers holds one rule and its test: every import in the module
// points down the layers the README's code map names. health judges,
// supervisor acts on processes, cmd speaks to people; leaves several of
// them use live under internal/.
package layers

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// layer ranks each package by the longest prefix listed; an import must
// go to a lower rank, or be one of parentUsers. A new package whose prefix
// is not listed fails the test until it is placed here.
var layer = map[string]int{
	"internal/testchild": -1, // test support: imports nothing of ours
	"internal/signame":   0,
	"internal/textsafe":  0, // escapes text for terminals; everything above prints
	"internal/cgroup":    0,
	"internal/safefs":    0,
	"internal/procfile":  -1, // raw reads of /proc and cgroup files: imports nothing of ours
	"internal/cadence":   0,  // fixed-rate due times for the health loop and the watchdog
	// What resreap and its fleet agent say to each other: no etcd code,
	// so that resreap links none (see internal/fleet/link).
	"internal/fleet/link": 0,
	"health/bpf":          0, // the BPF program and its loader: imports nothing of ours
	"health":              1,
	"internal/proc":       1, // forks, reaps, signals, escalates: knows no config, no history
	"internal/config":     2, // specs hold health policies
	"internal/history":    2, // records hold health evidence
	"internal/fleet":      2, // etcd: the fleet agent's, below supervisor, which never imports it
	"supervisor":          3,
	"cmd":                 4,
	"bench/harness":       5, // make bench: measures the commands
	"bench/cmd":           6,
	"internal/layers":     7, // this test
}

// parentUsers import their parent, of the same rank: the control socket
// and the metrics endpoint serve a running *supervisor.Supervisor, and
// cgrouptest gives the tests of health and above cgroups to work in. No
// other package may; the watchdog (supervisor/watch) stands on
// internal/proc, as the supervisor does, not on the supervisor.
var parentUsers = map[string]string{
	"supervisor/control":         "supervisor",
	"supervisor/metrics":         "supervisor",
	"internal/cgroup/cgrouptest": "internal/cgroup",
}

func rank(rel string) (int, bool) {
	best, r := "", 0
	for p, n := range layer {
		if (rel == p || strings.HasPrefix(rel, p+"/")) && len(p) > len(best) {
			best, r = p, n
		}
	}
	return r, best != ""
}

func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f",
		`{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`,
		"github.com/resreap/resreap/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, v := range violations(f[0], f[1:]) {
			t.Error(v)
		}
	}
}

const mod = "github.com/resreap/resreap/"

// violations lists what is wrong with the imports of package from (both
// import paths in full): a package in no layer, an import up or sideways.
func violations(from string, imports []string) []string {
	from = strings.TrimPrefix(from, mod)
	rf, ok := rank(from)
	if !ok {
		return []string{from + ": not in any layer; add its prefix to the layer map"}
	}
	var out []string
	for _, imp := range imports {
		to, ours := strings.CutPrefix(imp, mod)
		if !ours || to == from {
			continue
		}
		rt, ok := rank(to)
		switch {
		case !ok:
			out = append(out, to+": not in any layer; add its prefix to the layer map")
		case rt > rf || (rt == rf && parentUsers[from] != to):
			out = append(out, fmt.Sprintf("%s imports %s: up or sideways (layer %d -> %d)", from, to, rf, rt))
		}
	}
	return out
}

// The rule itself: what it must reject, and the exceptions it must keep.
func TestViolations(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     bool // a violation
	}{
		{"supervisor", "internal/proc", false},
		{"supervisor/watch", "internal/proc", false},
		{"supervisor/control", "supervisor", false},
		{"supervisor/metrics", "supervisor", false},
		{"supervisor/watch", "supervisor", true}, // the watchdog stands on proc
		{"supervisor/control", "supervisor/metrics", true},
		{"internal/cgroup/cgrouptest", "internal/cgroup", false},
		{"internal/cgroup", "internal/cgroup/cgrouptest", true},
		{"internal/proc", "internal/cgroup", false},
		{"internal/proc", "internal/signame", false},
		{"internal/proc", "internal/config", true},
		{"internal/proc", "internal/history", true},
		{"internal/proc", "health", true},
		{"internal/proc", "supervisor", true},
		{"internal/config", "health", false},
		{"health", "internal/config", true},
		{"cmd/resreap", "supervisor/watch", false},
		{"nowhere/new", "internal/proc", true},
		{"supervisor", "nowhere/new", true},
	} {
		have := violations(mod+tc.from, []string{mod + tc.to, "fmt"})
		if (len(have) > 0) != tc.want {
			t.Errorf("%s imports %s: violations %q, want a violation: %v", tc.from, tc.to, have, tc.want)
		}
	}
}

// resreap links no etcd client: gRPC, protobuf and their registries cost
// 7.7 MB of RSS in any process that links them, fleet or not. The fleet
// agent, resreap-fleet, is the one binary that does.
func TestResreapLinksNoEtcd(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/resreap/resreap/cmd/resreap").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "go.etcd.io/") || strings.HasPrefix(dep, "google.golang.org/grpc") ||
			dep == "github.com/resreap/resreap/internal/fleet" {
			t.Errorf("resreap links %s", dep)
		}
	}
}
