//go:build linux

package health

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/testchild"
)

// probe runs the test binary as a source probe, under the command prefix
// (setpriv ...), and returns what it chose.
func probe(t *testing.T, prefix ...string) SourceInfo {
	t.Helper()
	argv := append(prefix, os.Args[0], "-test.run=^$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), sourceProbeEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, stderr.String())
	}
	var src SourceInfo
	if err := json.Unmarshal(out, &src); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	return src
}

// TestSourceWithoutCapability: a resreap without CAP_BPF, CAP_PERFMON and
// CAP_SYS_ADMIN (dropped from the bounding set before exec, so root's
// process never gets them) uses the netlink dump and says why; with them
// it uses the event source.
func TestSourceWithoutCapability(t *testing.T) {
	testchild.NeedRoot(t)
	setpriv := testchild.NeedCommand(t, "setpriv")
	if src := probe(t); src.Name != ReaderBPF {
		testchild.Need(t, "the CLOSE_WAIT event source ("+src.Why+")", false)
	}
	src := probe(t, setpriv, "--bounding-set", "-bpf,-perfmon,-sys_admin", "--inh-caps", "-all", "--")
	if src.Name != ReaderNetlink || !strings.Contains(src.Why, "not permitted") || !strings.Contains(src.Why, "CAP_BPF") {
		t.Errorf("without the capabilities: %+v, want netlink and why", src)
	}
}

func TestOpenSource(t *testing.T) {
	for _, tc := range []struct {
		source, reader string
		want           string // Name, or "" for an error
	}{
		{SourceDump, ReaderProc, ReaderProc},
		{SourceDump, ReaderNetlink, ReaderNetlink},
		{SourceAuto, ReaderProc, ReaderProc}, // no sock_diag to merge with
		{SourceBPF, ReaderProc, ""},
		{"carrier-pigeon", ReaderAuto, ""},
	} {
		s, err := NewScanner(ScannerOptions{Source: tc.source, Reader: tc.reader, Log: zerolog.Nop()})
		if tc.want == "" {
			if !errors.Is(err, ErrReader) {
				t.Errorf("%s/%s: %v, want ErrReader", tc.source, tc.reader, err)
			}
			if s != nil {
				s.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s/%s: %v", tc.source, tc.reader, err)
			continue
		}
		if src := s.Source(); src.Name != tc.want || src.Why == "" {
			t.Errorf("%s/%s: %+v, want %s and why", tc.source, tc.reader, src, tc.want)
		}
		s.Close()
	}
}
