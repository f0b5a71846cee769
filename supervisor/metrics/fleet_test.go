//go:build linux

package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/resreap/resreap/internal/fleet/link"
	"github.com/resreap/resreap/supervisor"
)

// fleetSource is a fixedSource with a fleet (on) or without.
type fleetSource struct {
	fixedSource
	on bool
	st supervisor.FleetStats
}

func (f fleetSource) FleetStats() (supervisor.FleetStats, bool) { return f.st, f.on }

// With a fleet: up, etcd errors, slot waits, slots held and members by
// state; without one, no fleet metric at all.
func TestFleetMetrics(t *testing.T) {
	src := fleetSource{on: true, st: supervisor.FleetStats{Up: true, EtcdErrors: 4, SlotWaits: 3, SlotWaitSeconds: 1.5,
		Groups: []link.GroupStats{{Group: "fe", SlotsHeld: 1, ByState: map[string]int{"running": 11, "stopping": 1}}}}}
	want := `
# HELP resreap_fleet_etcd_errors_total etcd calls of the fleet agent that failed (since the agent started).
# TYPE resreap_fleet_etcd_errors_total counter
resreap_fleet_etcd_errors_total 4
# HELP resreap_fleet_members Members of a fleet group registered fleet-wide, by state.
# TYPE resreap_fleet_members gauge
resreap_fleet_members{group="fe",state="running"} 11
resreap_fleet_members{group="fe",state="stopping"} 1
# HELP resreap_fleet_slot_wait_seconds Time health restarts of fleet members waited for a fleet slot.
# TYPE resreap_fleet_slot_wait_seconds summary
resreap_fleet_slot_wait_seconds_sum 1.5
resreap_fleet_slot_wait_seconds_count 3
# HELP resreap_fleet_slots_held Fleet slots this host holds: members restarting for a health verdict or an order.
# TYPE resreap_fleet_slots_held gauge
resreap_fleet_slots_held{group="fe"} 1
# HELP resreap_fleet_up 1 while etcd answers this resreap's fleet agent.
# TYPE resreap_fleet_up gauge
resreap_fleet_up 1
`
	if err := testutil.GatherAndCompare(NewRegistry(src, nil, ReadBuildInfo("test")), strings.NewReader(want),
		"resreap_fleet_up", "resreap_fleet_etcd_errors_total", "resreap_fleet_members", "resreap_fleet_slot_wait_seconds", "resreap_fleet_slots_held"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(newFleetCollector(src)); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	src.on = false
	n, err := testutil.GatherAndCount(NewRegistry(src, nil, ReadBuildInfo("test")), "resreap_fleet_up", "resreap_fleet_members")
	if err != nil || n != 0 {
		t.Errorf("%d fleet metrics without a fleet (%v)", n, err)
	}
}
