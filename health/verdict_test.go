//go:build linux

package health

import (
	"fmt"
	"net/netip"
	"testing"
)

func samples(n int) []SocketSample {
	var out []SocketSample
	for i := range n {
		out = append(out, SocketSample{PID: 1, Inode: uint64(i), Tuple: Tuple{
			Local:  netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", 40000+i)),
			Remote: netip.MustParseAddrPort(fmt.Sprintf("127.0.0.%d:80", 1+i%2)),
		}})
	}
	return out
}

func TestVerdict(t *testing.T) {
	pol := DefaultPolicy().withDefaults()
	fds := FDUsage{PID: 1, Open: 60, Limit: 64}
	tests := []struct {
		name   string
		pol    Policy
		cw     int
		fdOver bool // the fd check says unhealthy
		want   Reason
	}{
		{"healthy", pol, 1, false, ""},
		{"close wait", pol, 12, false, ReasonCloseWait},
		{"fds", pol, 1, true, ReasonFDExhaustion},
		{"close wait wins", pol, 2, true, ReasonCloseWait},
		{"close wait disabled", Policy{CloseWait: CloseWaitPolicy{Disabled: true}, FDs: pol.FDs}.withDefaults(), 9, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := verdict(tt.pol, samples(tt.cw), fds, tt.fdOver)
			if tt.want == "" {
				if ev != nil {
					t.Fatalf("verdict %+v, want healthy", ev)
				}
				return
			}
			if ev == nil || ev.Reason != tt.want {
				t.Fatalf("verdict %+v, want %s", ev, tt.want)
			}
			if ev.FDs == nil || *ev.FDs != fds {
				t.Errorf("fds %+v", ev.FDs)
			}
			if len(ev.Samples) > MaxSamples || ev.CloseWait != tt.cw {
				t.Errorf("samples %d, close wait %d", len(ev.Samples), ev.CloseWait)
			}
			sum := 0
			for _, n := range ev.ByForeign {
				sum += n
			}
			if sum != tt.cw {
				t.Errorf("by foreign %v sums to %d", ev.ByForeign, sum)
			}
		})
	}
}
