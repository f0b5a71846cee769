//go:build linux

package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/resreap/resreap/internal/history"
)

// MemResult is the memory of `resreap run` supervising idle children:
// the medians of one sample of /proc/PID/smaps_rollup a second, and the
// Go runtime's figures from its /metrics at the end.
type MemResult struct {
	Build    string
	Children int
	RSS      int // kB, median
	Anon     int // kB, median: Anonymous of smaps_rollup
	File     int // kB, median: Rss − Anonymous (file-backed, shared memory none)
	Samples  int
	// From go_goroutines and go_memstats_*_bytes at the end.
	Goroutines             int
	HeapInuse, StackInuse  int // bytes
	HeapAlloc, NextGC, Sys int // bytes
}

// measureMem runs `resreap run` with n children running `sleep infinity`
// and a health check every second, waits until they are started and a
// few scans in, then samples for dur.
func measureMem(ctx context.Context, b build, dir string, n int, dur time.Duration) (MemResult, error) {
	m := MemResult{Build: b.Name, Children: n}
	port, err := freePort()
	if err != nil {
		return m, err
	}
	s, err := startSupervisor(b.Path, dir, idleConfig(n, port))
	if err != nil {
		return m, err
	}
	defer s.stop()
	err = s.waitFor(ctx, 2*time.Minute, fmt.Sprintf("%d children to start", n), func() (bool, error) {
		recs, err := s.records()
		return countEvents(recs, history.EventStart) >= n, err
	})
	if err != nil {
		return m, err
	}
	if err := sleepCtx(ctx, 5*time.Second); err != nil { // past start_seconds, a few scans in
		return m, err
	}
	var rss, anon, file []float64
	for t0 := time.Now(); time.Since(t0) < dur; {
		if err := sleepCtx(ctx, time.Second); err != nil {
			return m, err
		}
		r, err := smapsRollup(s.pid())
		if err != nil {
			return m, fmt.Errorf("resreap run: %w; log: %s", err, s.logTail())
		}
		rss, anon, file = append(rss, float64(r["Rss"])), append(anon, float64(r["Anonymous"])), append(file, float64(r["Rss"]-r["Anonymous"]-r["Shmem"]))
	}
	m.RSS, m.Anon, m.File, m.Samples = int(median(rss)), int(median(anon)), int(median(file)), len(rss)
	met, err := scrape(ctx, port)
	if err != nil {
		return m, fmt.Errorf("metrics: %w", err)
	}
	m.Goroutines = int(met["go_goroutines"])
	m.HeapInuse, m.StackInuse = int(met["go_memstats_heap_inuse_bytes"]), int(met["go_memstats_stack_inuse_bytes"])
	m.HeapAlloc, m.NextGC, m.Sys = int(met["go_memstats_heap_alloc_bytes"]), int(met["go_memstats_next_gc_bytes"]), int(met["go_memstats_sys_bytes"])
	return m, nil
}

// idleConfig is the configuration of n idle children with health checks
// every second; with port > 0 it serves /metrics there.
func idleConfig(n, port int) string {
	var b strings.Builder
	if port > 0 {
		// startSupervisor writes its [supervisor] table just before:
		// the key is the table's.
		fmt.Fprintf(&b, "metrics_listen = \"127.0.0.1:%d\"\n", port)
	}
	b.WriteString(`[defaults]
restart = "always"
start_seconds = "1s"

[defaults.health]
interval = "1s"
close_wait = { threshold = 2, persist = 2 }
fds = { max_ratio = 0.9, persist = 2 }
`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "\n[[child]]\nname = \"idle-%03d\"\ncommand = [\"sleep\", \"infinity\"]\n", i)
	}
	return b.String()
}

// smapsRollup reads the kB fields of /proc/PID/smaps_rollup.
func smapsRollup(pid int) (map[string]int, error) {
	return procFields(pid, "smaps_rollup")
}

// freePort returns a TCP port of 127.0.0.1 free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// scrape reads the unlabelled samples of /metrics at port.
func scrape(ctx context.Context, port int) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(line, "#") || strings.Contains(f[0], "{") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}
