//go:build linux

package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/resreap/resreap/supervisor"
)

// FleetSource is a Source with a fleet: *supervisor.Supervisor. Its
// FleetStats reports ok false without [fleet], and then no fleet metric
// is exported.
type FleetSource interface {
	FleetStats() (supervisor.FleetStats, bool)
}

// fleetCollector exports the fleet as this resreap sees it, read from
// its fleet agent at each scrape.
type fleetCollector struct {
	src                                      FleetSource
	up, errors, slotsHeld, slotWait, members *prometheus.Desc
}

func newFleetCollector(src FleetSource) *fleetCollector {
	return &fleetCollector{
		src: src,
		up:  prometheus.NewDesc("resreap_fleet_up", "1 while etcd answers this resreap's fleet agent.", nil, nil),
		errors: prometheus.NewDesc("resreap_fleet_etcd_errors_total",
			"etcd calls of the fleet agent that failed (since the agent started).", nil, nil),
		slotsHeld: prometheus.NewDesc("resreap_fleet_slots_held",
			"Fleet slots this host holds: members restarting for a health verdict or an order.", []string{"group"}, nil),
		slotWait: prometheus.NewDesc("resreap_fleet_slot_wait_seconds",
			"Time health restarts of fleet members waited for a fleet slot.", nil, nil),
		members: prometheus.NewDesc("resreap_fleet_members",
			"Members of a fleet group registered fleet-wide, by state.", []string{"group", "state"}, nil),
	}
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.errors, c.slotsHeld, c.slotWait, c.members} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	st, ok := c.src.FleetStats()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolValue(st.Up))
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(st.EtcdErrors))
	ch <- prometheus.MustNewConstSummary(c.slotWait, st.SlotWaits, st.SlotWaitSeconds, nil)
	for _, g := range st.Groups {
		ch <- prometheus.MustNewConstMetric(c.slotsHeld, prometheus.GaugeValue, float64(g.SlotsHeld), g.Group)
		for state, n := range g.ByState {
			ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(n), g.Group, state)
		}
	}
}
