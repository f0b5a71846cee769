//go:build linux

package config

import "sort"

// StartLevels groups children by dependency depth: level 0 depends on
// nothing, level n only on lower levels. Children of one level start
// together after the previous level; shutdown walks the levels backwards.
// When the dependencies have a cycle, it returns one cycle (first name
// repeated at the end) instead. Unknown dependencies are ignored here;
// validation reports them.
func StartLevels(children []ChildSpec) (levels [][]string, cycle []string) {
	deps := map[string][]string{}
	for _, c := range children {
		deps[c.Name] = nil
	}
	for _, c := range children {
		for _, d := range c.DependsOn {
			if _, ok := deps[d]; ok && d != c.Name {
				deps[c.Name] = append(deps[c.Name], d)
			}
		}
	}
	if cyc := findCycle(children, deps); cyc != nil {
		return nil, cyc
	}
	level := map[string]int{}
	var depth func(string) int
	depth = func(n string) int {
		if l, ok := level[n]; ok {
			return l
		}
		l := 0
		for _, d := range deps[n] {
			l = max(l, depth(d)+1)
		}
		level[n] = l
		return l
	}
	for _, c := range children {
		l := depth(c.Name)
		for len(levels) <= l {
			levels = append(levels, nil)
		}
		levels[l] = append(levels[l], c.Name)
	}
	for _, l := range levels {
		sort.Strings(l)
	}
	return levels, nil
}

func findCycle(children []ChildSpec, deps map[string][]string) []string {
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(n string) []string {
		mark[n] = onPath
		path = append(path, n)
		for _, d := range deps[n] {
			switch mark[d] {
			case onPath:
				for i, p := range path {
					if p == d {
						return append(append([]string{}, path[i:]...), d)
					}
				}
			case unseen:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		mark[n] = done
		return nil
	}
	for _, c := range children {
		if mark[c.Name] == unseen {
			if cyc := visit(c.Name); cyc != nil {
				return cyc
			}
		}
	}
	return nil
}
