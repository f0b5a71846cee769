//go:build linux

package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resreap/resreap/health/bpf"
)

// ConnCost is what the BPF program costs a connection-heavy load: local
// HTTP requests, one connection each, with and without the program loaded
// (MeasureConnCost).
type ConnCost struct {
	Rounds    int
	RoundTime time.Duration
	Clients   int
	// Without and With are the median connections per second over the
	// rounds without and with the program loaded; WithoutAll and WithAll
	// every round's figure, in order.
	Without, With       float64
	WithoutAll, WithAll []float64
	// CPUWithout and CPUWith are the medians of this process's CPU
	// (server and clients, user + system) per connection: less swayed
	// than the rate by other work on the machine, and where the program's
	// own cost shows (it runs in the kernel on behalf of these sockets).
	CPUWithout, CPUWith time.Duration
	// Events is how many times the program saw a socket enter CLOSE_WAIT
	// during the rounds with it loaded: one per connection (the client's
	// end, closed by the server first).
	Events uint64
}

// MeasureConnCost serves HTTP on loopback and runs clients that each open
// a new connection per request (no keep-alive), for rounds of d,
// alternately without and with the program loaded, and counts the
// requests completed. Each connection passes every TCP state, so the
// tracepoint fires about ten times per connection and the program adds
// and removes one entry.
func MeasureConnCost(ctx context.Context, rounds, clients int, d time.Duration) (ConnCost, error) {
	res := ConnCost{Rounds: rounds, RoundTime: d, Clients: clients}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "ok\n")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	var cpuWithout, cpuWith []time.Duration
	round := func(cpu *[]time.Duration) float64 {
		var n atomic.Int64
		before := rusageCPU()
		rctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr := &http.Transport{DisableKeepAlives: true}
				defer tr.CloseIdleConnections()
				c := &http.Client{Transport: tr}
				for rctx.Err() == nil {
					req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
					resp, err := c.Do(req)
					if err != nil {
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					n.Add(1)
				}
			}()
		}
		start := time.Now()
		wg.Wait()
		if cpu != nil && n.Load() > 0 {
			*cpu = append(*cpu, (rusageCPU()-before)/time.Duration(n.Load()))
		}
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	round(nil) // warm up
	for i := range 2 * rounds {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if i%2 == 0 {
			res.WithoutAll = append(res.WithoutAll, round(&cpuWithout))
			continue
		}
		p, err := bpf.Load(bpf.Options{})
		if err != nil {
			return res, fmt.Errorf("load the program: %s", bpf.Why(err))
		}
		res.WithAll = append(res.WithAll, round(&cpuWith))
		c, _ := p.Counters()
		res.Events += c.Entered
		p.Close()
	}
	res.Without, res.With = median(res.WithoutAll), median(res.WithAll)
	res.CPUWithout, res.CPUWith = medianDur(cpuWithout), medianDur(cpuWith)
	return res, nil
}
