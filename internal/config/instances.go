//go:build linux

package config

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Templates in a child's command, env values, paths and probes.
const (
	tmplInstance = "{instance}" // the copy's number: 0 .. instances-1
	tmplName     = "{name}"     // the child's name: "fe-server.2", or "fe-server" without instances
)

// instances turns the child of one [[child]] table into the children it
// declares: itself, or with instances = N the copies Base.0 .. Base.N-1,
// each with {instance} and {name} expanded. {instance} in a child without
// instances is a problem: it would expand to nothing.
func (v *validator) instances(key string, f *fileChild, c ChildSpec) []ChildSpec {
	c.Base = c.Name
	if f.Instances == nil {
		if uses := templateUse(&c, tmplInstance); uses != "" {
			v.add(key+"."+uses, "%s is used, but instances is not set", tmplInstance)
		}
		expandTemplates(&c, "")
		return []ChildSpec{c}
	}
	var n int64
	intIn(v, key+".instances", f.Instances, &n, rangeInstances)
	if n == 0 || c.Name == "" {
		return []ChildSpec{c}
	}
	out := make([]ChildSpec, n)
	for i := range out {
		cp := cloneSpec(c)
		cp.Name = c.Name + "." + strconv.Itoa(i)
		cp.Instances, cp.Instance = int(n), i
		expandTemplates(&cp, strconv.Itoa(i))
		out[i] = cp
	}
	return out
}

// cloneSpec copies c deeply enough that expanding the copy's templates
// leaves c as it is.
func cloneSpec(c ChildSpec) ChildSpec {
	c.Command = slices.Clone(c.Command)
	c.Env = maps.Clone(c.Env)
	c.DependsOn = slices.Clone(c.DependsOn)
	c.Ready.Exec = slices.Clone(c.Ready.Exec)
	c.Health.BeforeRestart.Command = slices.Clone(c.Health.BeforeRestart.Command)
	c.Stop.Steps = slices.Clone(c.Stop.Steps)
	c.Listen = slices.Clone(c.Listen)
	return c
}

// templateUse names the first key of c whose value uses tmpl, or "".
func templateUse(c *ChildSpec, tmpl string) string {
	has := func(ss ...string) bool {
		return slices.ContainsFunc(ss, func(s string) bool { return strings.Contains(s, tmpl) })
	}
	for _, kv := range []struct {
		key  string
		vals []string
	}{
		{"command", c.Command}, {"dir", []string{c.Dir}}, {"env", slices.Collect(maps.Values(c.Env))},
		{"stdout", []string{c.Stdout.File}}, {"stderr", []string{c.Stderr.File}},
		{"ready", append([]string{c.Ready.TCP, c.Ready.HTTP}, c.Ready.Exec...)},
		{"health.before_restart", c.Health.BeforeRestart.Command},
		{"listen", listenAddresses(c)}, {"pid_file", []string{c.PidFile}},
	} {
		if has(kv.vals...) {
			return kv.key
		}
	}
	return ""
}

// templated returns the strings of c that templates expand in.
func templated(c *ChildSpec) []*string {
	out := []*string{&c.Dir, &c.Stdout.File, &c.Stderr.File, &c.Ready.TCP, &c.Ready.HTTP, &c.PidFile}
	for i := range c.Listen {
		out = append(out, &c.Listen[i].Address)
	}
	for _, argv := range [][]string{c.Command, c.Ready.Exec, c.Health.BeforeRestart.Command} {
		for i := range argv {
			out = append(out, &argv[i])
		}
	}
	return out
}

// expandTemplates replaces {name} with c's name and, for a copy,
// {instance} with its number, in c's templated strings and env values.
func expandTemplates(c *ChildSpec, instance string) {
	r := strings.NewReplacer(tmplName, c.Name, tmplInstance, instance)
	if instance == "" {
		r = strings.NewReplacer(tmplName, c.Name)
	}
	for _, s := range templated(c) {
		*s = r.Replace(*s)
	}
	for k, val := range c.Env {
		c.Env[k] = r.Replace(val)
	}
}

// expandDependencies makes a dependency on a child with instances a
// dependency on each of its copies: "backend" means backend.0 ..
// backend.N-1.
func expandDependencies(children []ChildSpec) {
	copies := map[string][]string{}
	for _, c := range children {
		if c.Instances > 0 {
			copies[c.Base] = append(copies[c.Base], c.Name)
		}
	}
	if len(copies) == 0 {
		return
	}
	for i := range children {
		var deps []string
		for _, d := range children[i].DependsOn {
			if names, ok := copies[d]; ok {
				deps = append(deps, names...)
			} else {
				deps = append(deps, d)
			}
		}
		children[i].DependsOn = deps
	}
}

// listenAddresses are the addresses of c's sockets.
func listenAddresses(c *ChildSpec) []string {
	out := make([]string, len(c.Listen))
	for i, l := range c.Listen {
		out[i] = l.Address
	}
	return out
}
