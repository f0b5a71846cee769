//go:build linux

package supervisor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
)

// The children's cgroups get the memory controller whenever the host
// offers it, for their figures (memory.current: status, the metrics), and
// the pids controller when a child's pids_max needs it (their tasks are
// counted from cgroup.threads without it). Each must be enabled on the way
// down: resreap's own cgroup, then its subtree.
//
// On a hybrid host (the Debian and Ubuntu default before cgroup v2 only)
// memory and pids are bound to cgroup v1 and the cgroup2 hierarchy
// resreap owns children in has neither. Reading them from v1 instead is
// not sound: resreap places its children in cgroup2 leaves only, so in
// the v1 memory hierarchy every child shares resreap's own cgroup (its
// unit's), whose figure is the sum of all of them; a v1 cgroup per child
// would mean moving each child after its fork (v1 has no
// CLONE_INTO_CGROUP, so a fork could escape) into a hierarchy systemd
// manages. So there are no memory figures and no memory_max or pids_max
// there, and status, check and the README say so, with the mount that
// holds the controller.

// limitControllers lists the controllers the specs' limits need.
func limitControllers(specs []config.ChildSpec) []string {
	var out []string
	for _, s := range specs {
		if s.MemoryMax > 0 && !slices.Contains(out, "memory") {
			out = append(out, "memory")
		}
		if s.PidsMax > 0 && !slices.Contains(out, "pids") {
			out = append(out, "pids")
		}
	}
	return out
}

// enable turns on, on the way down to the subtree, the memory controller
// and those the children's limits need. What cannot be had is logged
// once, as an error when a limit needs it, and said in status
// (o.missing).
func (o *owner) enable(limits []string) {
	want := slices.Clone(limits)
	if !slices.Contains(want, "memory") {
		want = append(want, "memory")
	}
	have, err := o.home.Controllers()
	if err != nil {
		o.log.Warn().Err(err).Msg("cgroup controllers unknown")
		return
	}
	var on, off []string
	for _, c := range want {
		if slices.Contains(have, c) {
			on = append(on, c)
		} else {
			off = append(off, c)
		}
	}
	var why []string
	if len(off) > 0 {
		why = append(why, whyMissing(off, o.home, have, v1Mounts(o)))
	}
	if len(on) > 0 {
		for _, g := range []cgroup.Group{o.home, o.sub.Root()} {
			if err := g.EnableControllers(on...); err != nil {
				why = append(why, fmt.Sprintf("%s cannot be enabled for the children: %v", strings.Join(on, ", "), err))
				off = append(off, on...)
				break
			}
		}
	}
	if len(off) == 0 {
		return
	}
	o.missing = strings.Join(why, "; ") + ": " + lostText(off)
	var lost []string
	for _, c := range limits {
		if slices.Contains(off, c) {
			lost = append(lost, c+"_max")
		}
	}
	if len(lost) > 0 {
		o.log.Error().Strs("limits", lost).Msg("LIMITS NOT APPLIED: " + o.missing)
		return
	}
	o.log.Info().Msg("cgroup controllers missing: " + o.missing)
}

// v1Mounts returns where the cgroup v1 controllers are mounted; none
// when that cannot be read (logged).
func v1Mounts(o *owner) map[string]string {
	m, err := cgroup.V1Mounts()
	if err != nil {
		o.log.Debug().Err(err).Msg("cgroup v1 mounts unknown")
	}
	return m
}

// whyMissing says why the controllers off are missing from home's
// cgroup.controllers (have): bound to cgroup v1 at a mount (a hybrid
// host), or not offered by home's parent.
func whyMissing(off []string, home cgroup.Group, have []string, v1 map[string]string) string {
	var bound, other []string
	for _, c := range off {
		if at, ok := v1[c]; ok {
			bound = append(bound, fmt.Sprintf("%s (at %s)", c, at))
		} else {
			other = append(other, c)
		}
	}
	var parts []string
	if len(bound) > 0 {
		parts = append(parts, strings.Join(bound, " and ")+
			" bound to cgroup v1 on this host, not in the cgroup2 hierarchy the children run in (a hybrid host)")
	}
	if len(other) > 0 {
		list := strings.Join(have, " ")
		if list == "" {
			list = "none"
		}
		parts = append(parts, fmt.Sprintf("%s not offered to %s (cgroup.controllers: %s)", strings.Join(other, " and "), home.Path(), list))
	}
	return strings.Join(parts, "; ")
}

// lostText says what the children's cgroups do without, off missing.
func lostText(off []string) string {
	var lost []string
	if slices.Contains(off, "memory") {
		lost = append(lost, "no memory figures", "memory_max cannot apply")
	}
	if slices.Contains(off, "pids") {
		lost = append(lost, "pids_max cannot apply (tasks are counted from cgroup.threads)")
	}
	return strings.Join(lost, ", ")
}
