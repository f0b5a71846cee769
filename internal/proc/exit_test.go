//go:build linux

package proc

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// How an exit reads: as a code, a signal, a shell's $?, a record's fields,
// a failure for on-failure, a log line.
func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		status unix.WaitStatus
		want   string // code, signal, shell code, record, failed, string
	}{
		{0, "code 0 true, signal 0 false, shell 0, record \"\" 0, failed false, exit 0"},
		{3 << 8, "code 3 true, signal 0 false, shell 3, record \"\" 3, failed true, exit 3"},
		{unix.WaitStatus(unix.SIGTERM), "code 0 false, signal 15 true, shell 143, record \"TERM\" <nil>, failed true, signal TERM"},
		{unix.WaitStatus(unix.SIGKILL), "code 0 false, signal 9 true, shell 137, record \"KILL\" <nil>, failed true, signal KILL"},
	} {
		e := ExitStatus{Status: tc.status}
		code, exited := e.Code()
		sig, signaled := e.Signal()
		name, rc := e.SignalOrCode()
		record := fmt.Sprintf("%q %v", name, rc)
		if rc != nil {
			record = fmt.Sprintf("%q %d", name, *rc)
		}
		have := fmt.Sprintf("code %d %v, signal %d %v, shell %d, record %s, failed %v, %s",
			code, exited, int(sig), signaled, e.ShellCode(), record, e.Failed(), e)
		if have != tc.want {
			t.Errorf("status %#x:\nhave %s\nwant %s", int(tc.status), have, tc.want)
		}
	}
}
