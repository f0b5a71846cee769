//go:build linux

package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/resreap/resreap/health"
)

// sourceCollector tells where the health scan's CLOSE_WAIT sockets come
// from, and what the BPF event source did: how often it read its map,
// the dumps it still made and why, and how often its map and the dump
// disagreed. It reads supervisor.Info at each scrape; before Run it says
// nothing.
type sourceCollector struct {
	src Source

	source, mapReads, dumps, overflow, disagreements, inodeLookups *prometheus.Desc
}

func newSourceCollector(src Source) *sourceCollector {
	return &sourceCollector{
		src: src,
		source: prometheus.NewDesc("resreap_scan_source",
			"1 for where the health scan's CLOSE_WAIT sockets come from: bpf (the kernel's state changes, kept in a BPF map), netlink or proc (a dump at each tick); 0 for the others.",
			[]string{"source"}, nil),
		mapReads: prometheus.NewDesc("resreap_scan_event_map_reads_total",
			"Reads of the BPF event source's map of CLOSE_WAIT sockets.", nil, nil),
		dumps: prometheus.NewDesc("resreap_scan_event_dumps_total",
			"Socket dumps the BPF event source made: sync (a network namespace's first scan, or after an overflow), cross_check, inodes (many sockets accepted after they entered CLOSE_WAIT).",
			[]string{"why"}, nil),
		overflow: prometheus.NewDesc("resreap_scan_event_overflow_total",
			"CLOSE_WAIT sockets the BPF program could not add to its full map; the dump answers until the map holds them all again.", nil, nil),
		disagreements: prometheus.NewDesc("resreap_scan_event_disagreements_total",
			"Sockets on which a cross-check found the map and the dump disagreeing: missed (in the dump, not the map) or stale (in the map, not the dump). Both repaired; both should stay 0.",
			[]string{"kind"}, nil),
		inodeLookups: prometheus.NewDesc("resreap_scan_event_inode_lookups_total",
			"Sockets whose inode the event source asked the kernel for one by one (accepted after they entered CLOSE_WAIT).", nil, nil),
	}
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.source, c.mapReads, c.dumps, c.overflow, c.disagreements, c.inodeLookups} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	in := c.src.Info().HealthSource
	if in.Name == "" {
		return
	}
	for _, s := range []string{health.ReaderBPF, health.ReaderNetlink, health.ReaderProc} {
		ch <- prometheus.MustNewConstMetric(c.source, prometheus.GaugeValue, boolValue(s == in.Name), s)
	}
	if in.Name != health.ReaderBPF {
		return
	}
	ev := in.Events
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	counter(c.mapReads, float64(ev.MapReads))
	counter(c.dumps, float64(ev.Syncs), "sync")
	counter(c.dumps, float64(ev.CrossChecks), "cross_check")
	counter(c.dumps, float64(ev.InodeDumps), "inodes")
	counter(c.overflow, float64(ev.Overflow))
	counter(c.disagreements, float64(ev.Missed), "missed")
	counter(c.disagreements, float64(ev.Stale), "stale")
	counter(c.inodeLookups, float64(ev.InodeLookups))
}
