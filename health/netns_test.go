//go:build linux

package health

import (
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/resreap/resreap/internal/testchild"
)

// CloseWaitByNetns reads each namespace once, through the first process
// of it, passing over one that is gone; the sockets of each are its own
// (the reader's buffer is not shared between them), and each is held by
// the process that leaks it, as ListFDs shows.
func TestCloseWaitByNetns(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	host := testchild.Start(t, testchild.Spec{Mode: "leak", N: 3, Addr: addr})
	jailed := startHelperNetns(t, 2)
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	gone := done.ProcessState.Pid()

	remote := netip.MustParseAddrPort(addr)
	toRemote := func(ss []Socket) (n int) {
		for _, s := range ss {
			if s.Tuple.Remote == remote {
				n++
			}
		}
		return n
	}
	var have []NetnsSockets
	testchild.WaitFor(t, "the CLOSE_WAIT sockets of both namespaces", func() bool {
		have = CloseWaitByNetns("", []int{gone, host.PID, os.Getpid(), jailed.PID, host.PID})
		return len(have) == 2 && toRemote(have[0].Sockets) == 3 && len(have[1].Sockets) == 2
	})
	if have[0].PID != host.PID || have[1].PID != jailed.PID || have[0].Err != nil || have[1].Err != nil {
		t.Fatalf("namespaces read through %d (%v) and %d (%v), want %d and %d",
			have[0].PID, have[0].Err, have[1].PID, have[1].Err, host.PID, jailed.PID)
	}
	if toRemote(have[1].Sockets) != 0 {
		t.Errorf("the jailed namespace shows the host's sockets: %v", have[1].Sockets)
	}
	for i, h := range []*testchild.Child{host, jailed} {
		fds, err := ListFDs("", h.PID)
		if err != nil {
			t.Fatal(err)
		}
		var held []uint64
		for _, fd := range fds {
			if ino, ok := fd.Socket(); ok {
				held = append(held, ino)
			}
		}
		for _, s := range have[i].Sockets {
			if (i == 1 || s.Tuple.Remote == remote) && !slices.Contains(held, s.Inode) {
				t.Errorf("%s does not hold its CLOSE_WAIT socket %+v (holds %v)", h, s, held)
			}
		}
	}
	if have := CloseWaitByNetns("", []int{gone}); len(have) != 0 {
		t.Errorf("only a gone pid: %+v, want nothing", have)
	}
}
