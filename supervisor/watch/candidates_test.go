//go:build linux

package watch

import (
	"context"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/resreap/resreap/internal/testchild"
)

func TestParsePIDs(t *testing.T) {
	have, err := parsePIDs([]byte("    1\n  4242\n 77\n"))
	if err != nil || !reflect.DeepEqual(have, map[int]bool{1: true, 4242: true, 77: true}) {
		t.Errorf("parsePIDs = %v, %v", have, err)
	}
	if have, err := parsePIDs(nil); err != nil || len(have) != 0 {
		t.Errorf("parsePIDs(empty) = %v, %v", have, err)
	}
	if _, err := parsePIDs([]byte("  PID\n 1\n")); err == nil {
		t.Error("parsePIDs accepted a header")
	}
}

func TestAncestorsExcluded(t *testing.T) {
	anc := ancestors(realProc(), os.Getpid())
	if !anc[os.Getpid()] || !anc[os.Getppid()] || !anc[1] {
		t.Errorf("ancestors = %v, want self, parent and 1", anc)
	}
	// The test process and its parent match any pattern, yet are never
	// candidates.
	s := &selector{procRoot: "/proc", pattern: regexp.MustCompile(""), self: os.Getpid(), runPS: runPS}
	cands, psErr, err := s.list(context.Background())
	if err != nil || psErr != nil {
		t.Fatal(err, psErr)
	}
	for _, c := range cands {
		if anc[c.PID] {
			t.Errorf("ancestor %d (%s) is a candidate", c.PID, c.Comm)
		}
	}
}

func TestSelectorChecks(t *testing.T) {
	h := startHelper(t, "idle")
	mine := regexp.MustCompile(regexp.QuoteMeta(h.token))
	other := regexp.MustCompile("^no such process$")
	fakePS := func(out string, err error) func(context.Context, []string) ([]byte, error) {
		return func(context.Context, []string) ([]byte, error) { return []byte(out), err }
	}
	for _, tc := range []struct {
		name          string
		s             selector
		wantCW, wantF bool
		found         bool
	}{
		{"pattern only", selector{pattern: mine}, true, false, true},
		{"pattern and -o", selector{pattern: mine, fds: true}, true, true, true},
		{"no match", selector{pattern: other, fds: true}, false, false, false},
		{"-p selects", selector{pattern: other, fds: true, psFilter: []string{"x"}, runPS: fakePS(strconv.Itoa(h.PID)+"\n", nil)}, false, true, true},
		{"-p and -f", selector{pattern: mine, fds: true, psFilter: []string{"x"}, runPS: fakePS("1\n", nil)}, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			s.procRoot, s.self = "/proc", os.Getpid()
			cands, _, err := s.list(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var c *candidate
			for i := range cands {
				if cands[i].PID == h.PID {
					c = &cands[i]
				}
			}
			if (c != nil) != tc.found {
				t.Fatalf("helper found %v, want %v", c != nil, tc.found)
			}
			if c == nil {
				return
			}
			if c.CloseWait != tc.wantCW || c.FDs != tc.wantF || c.Comm != "watch.test" || !strings.Contains(c.Cmdline, h.token) || c.Start == 0 {
				t.Errorf("candidate %+v, want close_wait %v fds %v", *c, tc.wantCW, tc.wantF)
			}
		})
	}
}

func TestPSSelect(t *testing.T) {
	testchild.NeedCommand(t, "ps")
	s := &selector{psFilter: []string{"-p", strconv.Itoa(os.Getpid())}, runPS: runPS}
	pids, err := s.psSelect(context.Background())
	if err != nil || !reflect.DeepEqual(pids, map[int]bool{os.Getpid(): true}) {
		t.Errorf("ps -p self: %v, %v", pids, err)
	}
	s.psFilter = []string{"-p", "2147483646"}
	if pids, err := s.psSelect(context.Background()); err != nil || len(pids) != 0 {
		t.Errorf("ps selecting nothing: %v, %v; want no PIDs, no error", pids, err)
	}
	s.psFilter = []string{"--no-such-ps-option"}
	if _, err := s.psSelect(context.Background()); err == nil || !strings.Contains(err.Error(), "-p: ps -o pid= --no-such-ps-option") {
		t.Errorf("bad ps arguments: %v, want an error naming -p and the command", err)
	}
	s.runPS = func(context.Context, []string) ([]byte, error) {
		return nil, errors.New("exec: \"ps\": executable file not found")
	}
	if _, err := s.psSelect(context.Background()); err == nil {
		t.Error("missing ps: no error")
	}
}
