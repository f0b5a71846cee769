//go:build linux

// Package layers holds one test: every import in the module points down
// the layers the README's code map names. health judges, supervisor acts
// on processes, cmd speaks to people; leaves several of them use live under
// internal/.
package layers

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// layer ranks each package by the longest prefix listed; an import must
// go to a lower rank, or from a package to its own parent (the control
// socket and the watchdog use the supervisor core, never the reverse). A
// new package whose prefix is not listed fails the test until it is
// placed here.
var layer = map[string]int{
	"internal/testchild": -1, // test support: imports nothing of ours
	"internal/signame":   0,
	"internal/textsafe":  0, // escapes text for terminals; everything above prints
	"internal/cgroup":    0,
	"internal/safefs":    0,
	// What resreap and its fleet agent say to each other: no etcd code,
	// so that resreap links none (see internal/fleet/link).
	"internal/fleet/link": 0,
	"health":              1,
	"internal/config":     2, // specs hold health policies
	"internal/history":    2, // records hold health evidence
	"internal/fleet":      2, // etcd: the fleet agent's, below supervisor, which never imports it
	"supervisor":          3,
	"cmd":                 4,
	"bench/harness":       5, // make bench: measures the commands
	"bench/cmd":           6,
	"internal/layers":     7, // this test
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
	const mod = "github.com/resreap/resreap/"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		from := strings.TrimPrefix(f[0], mod)
		rf, ok := rank(from)
		if !ok {
			t.Errorf("%s: not in any layer; add its prefix to the layer map", from)
			continue
		}
		for _, imp := range f[1:] {
			to, ours := strings.CutPrefix(imp, mod)
			if !ours || to == from {
				continue
			}
			rt, ok := rank(to)
			if !ok {
				t.Errorf("%s: not in any layer; add its prefix to the layer map", to)
				continue
			}
			parent := strings.HasPrefix(from, to+"/") && path.Dir(from) == to
			if rt > rf || (rt == rf && !parent) {
				t.Errorf("%s imports %s: up or sideways (layer %d -> %d)", from, to, rf, rt)
			}
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
