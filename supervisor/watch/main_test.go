//go:build linux

package watch

import (
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/resreap/resreap/internal/proc"
	"github.com/resreap/resreap/internal/testchild"
)

// testReaper starts the -c commands of every test: a Reaper's fork
// thread lives as long as the process, so tests share one.
var testReaper *proc.Reaper

func TestMain(m *testing.M) {
	testchild.Main()
	testReaper = proc.NewPIDReaper(zerolog.Nop())
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/resreap/resreap/internal/proc.(*Reaper).forkLoop"))
}
