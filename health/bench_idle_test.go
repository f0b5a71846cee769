//go:build linux

package health

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkScanIdle measures the tick of `resreap run` at rest: 50 idle
// children (`sleep infinity`), each judged with its descendants under the
// default policy, nothing leaking. It is the tick behind the supervisor's
// RSS and CPU at rest (bench/results.md): B/op is the garbage each tick
// leaves for the GC, cpu-ns/op the CPU it costs.
func BenchmarkScanIdle(b *testing.B) {
	var targets []Target
	for i := range 50 {
		t := target(fmt.Sprintf("idle-%02d", i), startSleeper(b))
		t.Descendants = true
		t.Interval = time.Second
		targets = append(targets, t)
	}
	for _, kind := range readerKinds {
		b.Run("reader="+kind, func(b *testing.B) {
			s := newTestScanner(b, kind)
			s.Scan(targets)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				s.Scan(targets)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
