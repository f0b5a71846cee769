//go:build linux

package health

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/resreap/resreap/internal/testchild"
)

func TestMain(m *testing.M) {
	if os.Getenv(sourceProbeEnv) != "" {
		os.Exit(probeSource())
	}
	testchild.Main()
	goleak.VerifyTestMain(m)
}

// sourceProbeEnv makes the test binary open a Scanner with the source
// "auto", print its SourceInfo as JSON and exit: how a test sees which
// source a process with fewer capabilities gets.
const sourceProbeEnv = "RESREAP_TEST_SOURCE_PROBE"

func probeSource() int {
	s, err := NewScanner(ScannerOptions{Source: SourceAuto, Log: zerolog.New(os.Stderr)})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	defer s.Close()
	if err := json.NewEncoder(os.Stdout).Encode(s.Source()); err != nil {
		return 1
	}
	return 0
}
