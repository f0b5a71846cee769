//go:build linux

package harness

import (
	"regexp"
	"testing"
)

func TestParseWalkLog(t *testing.T) {
	log := []byte(`{"level":"info","reader":"netlink","message":"watching"}
{"level":"debug","candidates":212,"message":"scan"}
{"level":"debug","wanted":100,"not_found":0,"fd_tables":41,"readlinks":1180,"took":2.1,"message":"owner walk"}
{"level":"debug","pid":17,"comm":"x","skipped":"owner walk","message":"candidate"}
{"level":"debug","wanted":2,"not_found":2,"fd_tables":3,"readlinks":20,"took":0.1,"message":"owner walk"}
`)
	have, err := parseWalkLog(log)
	want := WalkCount{Walks: 2, FDTables: 44, Readlinks: 1200, NotFound: 2}
	if err != nil || have != want {
		t.Errorf("parseWalkLog = %+v, %v; want %+v", have, err, want)
	}
}

func TestHolderPattern(t *testing.T) {
	re := regexp.MustCompile(HolderPattern)
	for argv, want := range map[string]bool{
		"/b/sockload -worker -addr 127.77.0.7 -conns 0 -close-wait 100 -cw6=true":    true,
		"/b/sockload -worker -addr 127.77.0.1 -conns 8325 -close-wait 100 -cw6=true": true,
		"/b/sockload -worker -addr 127.77.0.2 -conns 8325 -close-wait 0 -cw6=false":  false,
		"/b/sockload -sockets 100000 -close-wait 100 -close-wait-apart=true":         false,
	} {
		if re.MatchString(argv) != want {
			t.Errorf("%q matches %v, want %v", argv, !want, want)
		}
	}
}
