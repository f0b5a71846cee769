//go:build linux

package health

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/testchild"
)

// TestReadersAgree reads the same live sockets with both readers.
func TestReadersAgree(t *testing.T) {
	nl, err := NewReader(ReaderNetlink, "", zerolog.Nop())
	testchild.Need(t, fmt.Sprintf("the netlink socket reader (%v)", err), err == nil)
	defer nl.Close()
	pr, _ := NewReader(ReaderProc, "", zerolog.Nop())
	defer pr.Close()
	for _, lnAddr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(lnAddr, func(t *testing.T) {
			addr := testchild.ClosingListener(t, lnAddr)
			testchild.Start(t, testchild.Spec{Mode: "leak", N: 5, Addr: addr})
			testchild.WaitFor(t, "CLOSE_WAIT sockets", func() bool { return len(closeWaitTo(t, nl, 0, addr)) == 5 })
			a, b := closeWaitTo(t, nl, 0, addr), closeWaitTo(t, pr, 0, addr)
			for i := range a {
				if a[i].CgroupID == 0 {
					t.Errorf("netlink gave no cgroup id: %+v", a[i])
				}
				if a[i].Cookie == 0 {
					t.Errorf("netlink gave no cookie: %+v", a[i])
				}
				a[i].CgroupID, a[i].Cookie = 0, 0 // the /proc reader has no such columns
			}
			if !slices.Equal(a, b) {
				t.Errorf("netlink %v\nproc    %v", a, b)
			}
		})
	}
}

// TestScanMatchesSS compares the evidence with what ss reports for the
// helper's pid.
func TestScanMatchesSS(t *testing.T) {
	testchild.NeedCommand(t, "ss")
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			s := newTestScanner(t, kind)
			addr := testchild.ClosingListener(t, "127.0.0.1:0")
			h := leak(t, s, "leak", 6, addr)
			tg := []Target{target("web", h.PID)}
			s.Scan(tg)
			ev := s.Scan(tg)[0].Verdict
			if ev == nil {
				t.Fatal("no verdict")
			}
			var have []Tuple
			for _, smp := range ev.Samples {
				have = append(have, smp.Tuple)
			}
			want := ssCloseWait(t, h.PID)
			sortTuples(have)
			sortTuples(want)
			if !slices.Equal(have, want) {
				t.Errorf("scanner %v\nss      %v", have, want)
			}
		})
	}
}

// ssCloseWait runs `ss -tnpH state close-wait` and returns the tuples of
// pid. With a single state selected ss omits the state column, so the
// endpoints are the 3rd and 4th fields.
func ssCloseWait(t *testing.T, pid int) []Tuple {
	out, err := exec.Command("ss", "-tnpH", "state", "close-wait").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	var tuples []Tuple
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.Contains(sc.Text(), "pid="+strconv.Itoa(pid)+",") {
			continue
		}
		l, err1 := netip.ParseAddrPort(f[2])
		r, err2 := netip.ParseAddrPort(f[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("cannot parse ss line %q", sc.Text())
		}
		tuples = append(tuples, Tuple{
			Local:  netip.AddrPortFrom(l.Addr().Unmap(), l.Port()),
			Remote: netip.AddrPortFrom(r.Addr().Unmap(), r.Port()),
		})
	}
	return tuples
}

func sortTuples(ts []Tuple) {
	slices.SortFunc(ts, func(a, b Tuple) int { return a.Local.Compare(b.Local) })
}

// TestScanOtherNetns: a target in its own network namespace is read in
// that namespace. Its sockets do not exist in the supervisor's namespace,
// so finding them proves the right namespace was read.
func TestScanOtherNetns(t *testing.T) {
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			s := newTestScanner(t, kind)
			h := startHelperNetns(t, 3)
			own := s.reader
			tg := []Target{target("jailed", h.PID)}
			testchild.WaitFor(t, "CLOSE_WAIT in the namespace", func() bool {
				socks, err := own.CloseWait(h.PID)
				return err == nil && len(socks) >= 3
			})
			s.Scan(tg)
			r := s.Scan(tg)[0]
			if r.Verdict == nil || r.CloseWait != 3 {
				t.Fatalf("verdict %+v, want 3 sockets", r.Verdict)
			}
			// None of them is visible from the supervisor's namespace.
			host, err := own.CloseWait(0)
			if err != nil {
				t.Fatal(err)
			}
			for _, smp := range r.Verdict.Samples {
				for _, hs := range host {
					if hs.Inode == smp.Inode {
						t.Errorf("socket %d seen in the host namespace", smp.Inode)
					}
				}
			}
		})
	}
}

// TestScanDescendantOtherNetns: a child that starts its server in a new
// network namespace (`unshare -n server` below a shell) leaks sockets that
// exist only there. The target is the parent, in the supervisor's
// namespace; its descendant's namespace is read too, and the sockets are
// the descendant's. Without Descendants the parent alone is judged and
// holds none.
func TestScanDescendantOtherNetns(t *testing.T) {
	testchild.NeedRoot(t)
	for _, kind := range readerKinds {
		t.Run(kind, func(t *testing.T) {
			s := newTestScanner(t, kind)
			h := testchild.Start(t, testchild.Spec{Mode: "netns-parent", N: 4})
			parent := h.Cmd.Process.Pid
			if h.PID == parent {
				t.Fatalf("ready line %q from the parent, want the grandchild's", h.Ready)
			}
			tree := target("tree", parent)
			tree.Descendants = true
			alone := target("alone", parent)
			tg := []Target{tree, alone}
			s.Scan(tg)
			res := s.Scan(tg)
			r := res[0]
			if r.Verdict == nil || r.CloseWait != 4 {
				t.Fatalf("tree: %+v verdict %+v, want 4 persistent sockets", r, r.Verdict)
			}
			if !slices.Contains(r.PIDs, h.PID) {
				t.Errorf("PIDs %v lack the descendant %d", r.PIDs, h.PID)
			}
			for _, smp := range r.Verdict.Samples {
				if smp.PID != h.PID {
					t.Errorf("sample %+v: want the descendant %d", smp, h.PID)
				}
			}
			if res[1].Verdict != nil || res[1].CloseWait != 0 {
				t.Errorf("parent alone: %+v verdict %+v, want healthy", res[1], res[1].Verdict)
			}
		})
	}
}

func startHelperNetns(t *testing.T, n int) *testchild.Child {
	t.Helper()
	testchild.NeedRoot(t) // to create a network namespace
	return testchild.Start(t, testchild.Spec{Mode: "netns", N: n, Cloneflags: syscall.CLONE_NEWNET})
}
