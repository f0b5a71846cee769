//go:build linux

package harness

import (
	"fmt"
	"time"
)

// writeSources writes the comparison of the health tick with the BPF
// event source and with the dump, the program's cost to a
// connection-heavy load, and the detection latency with both.
func (r *Report) writeSources(p func(string, ...any)) {
	if len(r.Sources) == 0 && r.Conn == nil && r.Detect == nil && r.DetectDump == nil {
		return
	}
	p("## CLOSE_WAIT source: BPF events vs the socket dump\n\n")
	if len(r.Sources) > 0 {
		p("CPU (user + system, getrusage of the measuring process) of one health tick: `Scanner.Scan` "+
			"of one target with the fd check off, as `resreap run` ticks, with `health.source = \"bpf\"` "+
			"(the map the BPF program keeps on `inet_sock_set_state`, read with one batch lookup) and "+
			"with `health.source = \"dump\"` (the netlink sock_diag dump filtered to CLOSE_WAIT in the "+
			"kernel, what resreap did before). %d CLOSE_WAIT sockets at every size; 5 rounds alternating "+
			"the sources, median of the rounds; %d ticks per source and size. The event source also "+
			"dumps each namespace once a minute as a cross-check: the third column spreads that dump over "+
			"a minute of 1 s ticks.\n\n", r.Config.CloseWait, r.Config.SourceTicks)
		p("| host TCP sockets (in CLOSE_WAIT) | BPF events: CPU per tick | with the cross-check | netlink dump: CPU per tick | dump ÷ events |\n")
		p("|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Sources {
			if s.Err != "" && s.Ticks == 0 {
				p("| %s (asked) | – | – | – | %s |\n", sizeLabel(s.Target), s.Err)
				continue
			}
			ratio := "–"
			if s.BPF > 0 {
				ratio = fmt.Sprintf("%.0f×", float64(s.Dump)/float64(s.BPF))
			}
			p("| %d (%d) | %s | %s | %s | %s |\n", s.Sockets, s.CloseWait, us(s.BPF), us(s.BPF+s.CrossCheck), us(s.Dump), ratio)
		}
		p("\n")
	}
	if c := r.Conn; c != nil {
		p("### The program's cost to a connection-heavy load\n\n")
		p("Local HTTP requests, one new connection each (no keep-alive), %d clients against a Go "+
			"`net/http` server on 127.0.0.1, in rounds of %s alternating without and with the BPF program "+
			"loaded (%d rounds each, after a warm-up round). Every connection passes CLOSE_WAIT on the "+
			"client's side: the program added and removed %d entries in the rounds with it.\n\n",
			c.Clients, c.RoundTime, c.Rounds, c.Events)
		p("| | connections per second, median | CPU per connection, median | every round (connections per second) |\n|---|---:|---:|---|\n")
		p("| without the program | %.0f | %s | %s |\n", c.Without, us(c.CPUWithout), floats(c.WithoutAll))
		p("| with the program | %.0f | %s | %s |\n", c.With, us(c.CPUWith), floats(c.WithAll))
		if c.Without > 0 && c.CPUWithout > 0 {
			p("\nWith ÷ without: %.3f connections per second, %.3f CPU per connection. CPU is this "+
				"process's (server and clients, user + system, getrusage), which the program's work on its "+
				"sockets is charged to; the rate also moves with whatever else the machine runs.\n\n",
				c.With/c.Without, float64(c.CPUWith)/float64(c.CPUWithout))
		}
	}
	r.writeDetection(p)
}

// us formats a duration in microseconds or milliseconds.
func us(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return dur(d)
}

func floats(v []float64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.0f", x)
	}
	return s
}
