//go:build linux

package harness

import (
	"testing"
	"time"
)

func TestParseTick(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkScanBigLeaker/ss-2         	      30	  10839187 ns/op	  10138367 cpu-ns/op
BenchmarkScanBigLeaker/tick/netlink/cgroup-2         	      30	   2078017 ns/op	   2192133 cpu-ns/op	         0 readlinks/op
BenchmarkScanBigLeaker/tick/netlink/walk         	      30	  62561561 ns/op	  65055233 cpu-ns/op	     15014 readlinks/op
PASS
`)
	have := parseTick(out)
	want := []TickResult{
		{Name: "ss", CPU: 10138367 * time.Nanosecond},
		{Name: "tick/netlink/cgroup", CPU: 2192133 * time.Nanosecond, HasLinks: true},
		{Name: "tick/netlink/walk", CPU: 65055233 * time.Nanosecond, Readlinks: 15014, HasLinks: true},
	}
	if len(have) != len(want) {
		t.Fatalf("have %+v", have)
	}
	for i := range want {
		if have[i] != want[i] {
			t.Errorf("%d: have %+v, want %+v", i, have[i], want[i])
		}
	}
}
