//go:build linux

package config

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// GroupSpec is a [[group]]: children that serve together (the front ends
// behind one address), whose health restarts share a budget.
type GroupSpec struct {
	Name    string
	Members []string // child names; a child with instances stands for all its copies
	// MaxUnavailable is how many members may be down (not Running) before
	// a health restart of another waits: a count, or with Percent a
	// percentage of the members (rounded down, at least 1).
	MaxUnavailable int
	Percent        bool
	// Fleet makes the group one of a fleet: its members on every host
	// registered under the same [fleet] prefix share a restart budget of
	// FleetMaxUnavailable members (with FleetPercent a percentage of the
	// registered members), kept in etcd. Unset (false) the group is this
	// host's alone. The local budget applies as well.
	Fleet               bool
	FleetMaxUnavailable int
	FleetPercent        bool
	// MaxSurge is how many members may surge at once (restart_mode =
	// "surge": a new generation beside the old one); a surge does not
	// count against MaxUnavailable.
	MaxSurge int
}

// Budget is how many of the group's members may be unavailable at once.
func (g GroupSpec) Budget() int {
	return budget(g.MaxUnavailable, g.Percent, len(g.Members))
}

// FleetBudget is how many of the fleet group's members may be restarted
// at once fleet-wide, registered being how many members the fleet has.
func (g GroupSpec) FleetBudget(registered int) int {
	return budget(g.FleetMaxUnavailable, g.FleetPercent, registered)
}

// budget is n, or with percent n% of members, rounded down, at least 1.
func budget(n int, percent bool, members int) int {
	if !percent {
		return n
	}
	return max(1, int(math.Floor(float64(members)*float64(n)/100)))
}

// Diff lists the keys of a [[group]] whose values differ between a and b.
// A change of members or budget applies at once, at the next verdict; a
// change of fleet takes effect when resreap restarts (the fleet's
// connection is set up once).
func (a GroupSpec) Diff(b GroupSpec) []string {
	var keys []string
	for _, f := range []struct {
		key  string
		same bool
	}{
		{"members", slices.Equal(a.Members, b.Members)},
		{"max_unavailable", a.MaxUnavailable == b.MaxUnavailable && a.Percent == b.Percent},
		{"fleet", a.Fleet == b.Fleet},
		{"fleet_max_unavailable", a.FleetMaxUnavailable == b.FleetMaxUnavailable && a.FleetPercent == b.FleetPercent},
		{"max_surge", a.MaxSurge == b.MaxSurge},
	} {
		if !f.same {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// GroupOf returns the group child is a member of, or nil.
func (c *Config) GroupOf(child string) *GroupSpec {
	for i := range c.Groups {
		if slices.Contains(c.Groups[i].Members, child) {
			return &c.Groups[i]
		}
	}
	return nil
}

// groups validates the [[group]] tables against the children: every
// member exists, and a child is in one group at most.
func (v *validator) groups(fgs []fileGroup, children []ChildSpec) []GroupSpec {
	byBase := map[string][]string{}
	for _, c := range children {
		byBase[c.Base] = append(byBase[c.Base], c.Name)
		if c.Base != c.Name {
			byBase[c.Name] = []string{c.Name}
		}
	}
	var out []GroupSpec
	inGroup := map[string]string{}
	for i, fg := range fgs {
		key := "group." + strconv.Itoa(i)
		g := GroupSpec{Name: strOr(fg.Name, "")}
		if msg := nameProblem(g.Name); msg != "" {
			v.add(key+".name", "%s", msg)
		}
		if slices.ContainsFunc(out, func(o GroupSpec) bool { return o.Name == g.Name }) && g.Name != "" {
			v.add(key+".name", "duplicate group name %q", g.Name)
		}
		if len(fg.Members) == 0 {
			v.add(key+".members", "no members")
		}
		for _, m := range fg.Members {
			names, ok := byBase[m]
			if !ok {
				v.add(key+".members", "unknown child %q", m)
				continue
			}
			for _, n := range names {
				if other, dup := inGroup[n]; dup {
					v.add(key+".members", "%s is already in group %q", n, other)
					continue
				}
				inGroup[n] = g.Name
				g.Members = append(g.Members, n)
			}
		}
		g.MaxUnavailable, g.Percent = v.maxUnavailable(key+".max_unavailable", fg.MaxUnavailable)
		surge := int64(1) // max_surge: 1..1000 (instances' range), default 1
		intIn(v, key+".max_surge", fg.MaxSurge, &surge, rangeInstances)
		g.MaxSurge = int(surge)
		out = append(out, g)
	}
	return out
}

// maxUnavailable reads a count (1 or more) or a percentage ("25%", 1 to
// 100) into n, percent. Unset is 1: one member down at a time.
func (v *validator) maxUnavailable(key string, x any) (n int, percent bool) {
	switch m := x.(type) {
	case nil:
	case int64:
		if m < 1 || m > int64(rangeInstances.max) {
			v.add(key, "must be a count from 1 to %d, or a percentage like \"25%%\"", rangeInstances.max)
			break
		}
		return int(m), false
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(m, "%")))
		if !strings.HasSuffix(m, "%") || err != nil || n < 1 || n > 100 {
			v.add(key, "must be a count, or a percentage from 1%% to 100%%, not %q", m)
			break
		}
		return n, true
	default:
		v.add(key, "must be a count or a percentage like \"25%%\"")
	}
	return 1, false
}
