//go:build linux

package proc

import (
	"os"
	"strings"
	"testing"
	"time"
)

// Describe names a live process by its command line and start; a PID
// that is gone is left out.
func TestDescribe(t *testing.T) {
	gone := 1 << 22 // above PID_MAX_LIMIT: never a process
	infos := Describe([]int{os.Getpid(), gone})
	if len(infos) != 1 {
		t.Fatalf("Describe: %+v, want this process alone", infos)
	}
	in := infos[0]
	if in.PID != os.Getpid() || !strings.HasPrefix(in.Command, os.Args[0]) {
		t.Errorf("command %q, want it to start with %q", in.Command, os.Args[0])
	}
	if age := time.Since(in.Started); age < 0 || age > time.Hour {
		t.Errorf("started %s ago", age)
	}
	if Describe(nil) != nil {
		t.Error("Describe(nil) is not nil")
	}
}
