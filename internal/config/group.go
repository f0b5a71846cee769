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
	// MaxSurge is how many members may surge at once (restart_mode =
	// "surge": a new generation beside the old one); a surge does not
	// count against MaxUnavailable.
	MaxSurge int
}

// Budget is how many of the group's members may be unavailable at once.
func (g GroupSpec) Budget() int {
	if !g.Percent {
		return g.MaxUnavailable
	}
	return max(1, int(math.Floor(float64(len(g.Members))*float64(g.MaxUnavailable)/100)))
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
		v.maxUnavailable(key+".max_unavailable", fg.MaxUnavailable, &g)
		surge := int64(1) // max_surge: 1..1000 (instances' range), default 1
		intIn(v, key+".max_surge", fg.MaxSurge, &surge, rangeInstances)
		g.MaxSurge = int(surge)
		out = append(out, g)
	}
	return out
}

// maxUnavailable reads a count (1 or more) or a percentage ("25%", 1 to
// 100). Unset is 1: one member down at a time.
func (v *validator) maxUnavailable(key string, x any, g *GroupSpec) {
	g.MaxUnavailable = 1
	switch m := x.(type) {
	case nil:
	case int64:
		if m < 1 || m > int64(rangeInstances.max) {
			v.add(key, "must be a count from 1 to %d, or a percentage like \"25%%\"", rangeInstances.max)
			return
		}
		g.MaxUnavailable = int(m)
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(m, "%")))
		if !strings.HasSuffix(m, "%") || err != nil || n < 1 || n > 100 {
			v.add(key, "must be a count, or a percentage from 1%% to 100%%, not %q", m)
			return
		}
		g.MaxUnavailable, g.Percent = n, true
	default:
		v.add(key, "must be a count or a percentage like \"25%%\"")
	}
}
