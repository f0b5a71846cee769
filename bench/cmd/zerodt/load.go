//go:build linux

package main

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"
)

// load sends GET / at a constant rate, open-loop, and keeps each
// request's outcome.
type load struct {
	addr   string
	rate   int
	client *http.Client

	mu  sync.Mutex
	out []outcome
}

// outcome is one request: when it was due, how long it took from then,
// and how it failed, if it did.
type outcome struct {
	due      time.Time
	latency  time.Duration
	failed   bool
	refused  bool
	finished time.Time
}

// result is what a run gives the table.
type result struct {
	restarts, sent, failed int
	p99, max               time.Duration
	refused                time.Duration
}

// maxInFlight bounds the requests under way: far above what a healthy
// server needs at these rates, so that only a stalled server reaches it
// (its requests then wait, and their latency says so).
const maxInFlight = 2000

func newLoad(addr string, rate int, keepAlive bool) *load {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: maxInFlight, DisableKeepAlives: !keepAlive}
	return &load{addr: addr, rate: rate, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// start sends rate requests a second for d; done closes once every one
// of them has finished.
func (l *load) start(d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	n := int(d.Seconds() * float64(l.rate))
	interval := time.Second / time.Duration(l.rate)
	slots := make(chan struct{}, maxInFlight)
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		begin := time.Now()
		for i := range n {
			due := begin.Add(time.Duration(i) * interval)
			time.Sleep(time.Until(due))
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				l.one(due)
			})
		}
		wg.Wait()
		l.client.CloseIdleConnections()
	}()
	return done
}

// one sends one request due at due.
func (l *load) one(due time.Time) {
	o := outcome{due: due}
	resp, err := l.client.Get("http://" + l.addr + "/")
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
	}
	o.finished = time.Now()
	o.latency = o.finished.Sub(due)
	o.failed = err != nil
	o.refused = errors.Is(err, syscall.ECONNREFUSED)
	l.mu.Lock()
	l.out = append(l.out, o)
	l.mu.Unlock()
}

// result sums the outcomes up. Refused time is the span of each run of
// refused requests (due times no further apart than refusedGap), plus
// one request interval for its last one, summed.
func (l *load) result() result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := result{sent: len(l.out)}
	var lat []time.Duration
	var refused []time.Time
	for _, o := range l.out {
		switch {
		case o.refused:
			refused = append(refused, o.due)
			r.failed++
		case o.failed:
			r.failed++
		default:
			lat = append(lat, o.latency)
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
		r.max = lat[len(lat)-1]
	}
	slices.SortFunc(refused, func(a, b time.Time) int { return a.Compare(b) })
	interval := time.Second / time.Duration(l.rate)
	const refusedGap = 100 * time.Millisecond
	for i := 0; i < len(refused); {
		j := i
		for j+1 < len(refused) && refused[j+1].Sub(refused[j]) <= refusedGap {
			j++
		}
		r.refused += refused[j].Sub(refused[i]) + interval
		i = j + 1
	}
	return r
}
