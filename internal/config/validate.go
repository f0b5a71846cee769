//go:build linux

package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/signame"
)

// validator converts the decoded file into a Config and collects every
// problem on the way, each with the line of the key it is about.
type validator struct {
	base     string // directory of the config file; relative paths start there
	lines    keyLines
	problems []Problem
}

// add records a problem about path, a dotted key path with array indexes
// ("child.1.stop.signals").
//
// A child's value may come from [defaults]: when the child's table does
// not set the key itself but [defaults] does, the problem is reported at
// the defaults key, once, however many children inherit it.
func (v *validator) add(path, format string, args ...any) {
	if parts := strings.SplitN(path, ".", 3); len(parts) == 3 && parts[0] == "child" {
		if _, own := v.lines.exact(path); !own {
			if _, inherited := v.lines.exact("defaults." + parts[2]); inherited {
				path = "defaults." + parts[2]
			}
		}
	}
	p := Problem{Line: v.lines.lineOf(path), Key: displayKey(path), Msg: fmt.Sprintf(format, args...)}
	if !slices.Contains(v.problems, p) {
		v.problems = append(v.problems, p)
	}
}

// defaultStopWait is the wait after each stop signal when the file gives
// none.
const defaultStopWait = 5 * time.Second

// DefaultKillWait bounds the wait for an exit after SIGKILL.
const DefaultKillWait = 10 * time.Second

// builtinChild holds the built-in defaults, used where neither [defaults]
// nor the child sets a key. It is the one place each default lives.
var builtinChild = ChildSpec{
	Restart:    RestartAlways,
	StartGrace: time.Second,
	Backoff:    BackoffSpec{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 0.1, ResetAfter: 5 * time.Minute},
	StartLimit: StartLimit{Burst: 5, Interval: time.Minute},
	Stop:       StopSpec{Steps: []StopStep{{Signal: unix.SIGTERM, Wait: defaultStopWait}}, KillWait: DefaultKillWait},
	Health: HealthSpec{
		Interval:      2 * time.Second,
		Policy:        health.DefaultPolicy(),
		BeforeRestart: HookSpec{Timeout: 10 * time.Second},
	},
}

// DefaultChild returns a ChildSpec holding every built-in default and no
// name or command: what a [[child]] gets when neither it nor [defaults]
// sets a key.
func DefaultChild() ChildSpec {
	c := builtinChild
	c.Stop.Steps = append([]StopStep(nil), c.Stop.Steps...)
	return c
}

func (v *validator) config(path string, fc *fileConfig) *Config {
	cfg := &Config{Path: path, Supervisor: v.supervisorConfig(path, &fc.Supervisor)}
	if fc.Defaults.Name != nil {
		v.add("defaults.name", "a name cannot be a default")
	}
	if len(fc.Child) == 0 {
		v.add("child", "no [[child]] defined")
	}
	seen := map[string]int{}
	for i := range fc.Child {
		fch := fc.Child[i]
		mergeInto(&fch, &fc.Defaults)
		key := "child." + strconv.Itoa(i)
		spec := v.child(key, &fch)
		if spec.Name != "" {
			if j, dup := seen[spec.Name]; dup {
				v.add(key+".name", "duplicate name %q (also child[%d])", spec.Name, j)
			}
			seen[spec.Name] = i
		}
		cfg.Children = append(cfg.Children, spec)
	}
	v.dependencies(cfg.Children, seen)
	return cfg
}

func (v *validator) child(key string, f *fileChild) ChildSpec {
	c := DefaultChild()
	c.Name = strOr(f.Name, "")
	switch {
	case c.Name == "":
		v.add(key+".name", "missing or empty name")
	case strings.ContainsAny(c.Name, " \t\n/"):
		v.add(key+".name", "name %q must not contain spaces or '/'", c.Name)
	}
	c.Command = f.Command
	if len(c.Command) == 0 || c.Command[0] == "" {
		v.add(key+".command", "missing or empty command (an argv array, e.g. [\"/usr/bin/app\", \"--flag\"])")
	}
	c.Dir = relTo(v.base, strOr(f.Dir, ""))
	c.Env = f.Env
	c.ClearEnv = f.ClearEnv != nil && *f.ClearEnv
	c.User, c.Group = strOr(f.User, ""), strOr(f.Group, "")
	if f.RlimitNofile != nil {
		if *f.RlimitNofile <= 0 {
			v.add(key+".rlimit_nofile", "must be > 0")
		} else {
			c.RlimitNofile = uint64(*f.RlimitNofile)
		}
	}
	if f.MemoryMax != nil {
		n, err := parseSize(f.MemoryMax)
		switch {
		case err != nil:
			v.add(key+".memory_max", "%v", err)
		case n != 0 && n < 1<<20:
			v.add(key+".memory_max", "must be at least 1MB (0 or absent = no limit)")
		}
		c.MemoryMax = n
	}
	if f.PidsMax != nil {
		if *f.PidsMax < 1 {
			v.add(key+".pids_max", "must be >= 1 (absent = no limit)")
		}
		c.PidsMax = *f.PidsMax
	}
	if f.Restart != nil {
		c.Restart = RestartPolicy(*f.Restart)
		switch c.Restart {
		case RestartAlways, RestartOnFailure, RestartNever:
		default:
			v.add(key+".restart", "must be always, on-failure or never, not %q", *f.Restart)
		}
	}
	v.duration(key+".start_seconds", f.StartGrace, &c.StartGrace, true)
	if f.Backoff != nil {
		v.backoff(key+".backoff", f.Backoff, &c.Backoff)
	}
	if f.StartLimit != nil {
		v.startLimit(key+".start_limit", f.StartLimit, &c.StartLimit)
	}
	if f.Stop != nil {
		c.Stop = v.stop(key+".stop", f.Stop)
	}
	for i, d := range f.DependsOn {
		if d == "" {
			v.add(key+".depends_on", "entry %d is empty", i)
		}
	}
	c.DependsOn = f.DependsOn
	if f.Health != nil {
		v.health(key+".health", f.Health, &c.Health)
	}
	return c
}

func (v *validator) backoff(k string, b *fileBackoff, dst *BackoffSpec) {
	v.duration(k+".initial", b.Initial, &dst.Initial, true)
	v.duration(k+".max", b.Max, &dst.Max, true)
	v.duration(k+".reset_after", b.ResetAfter, &dst.ResetAfter, false)
	if b.Multiplier != nil {
		if dst.Multiplier = *b.Multiplier; dst.Multiplier < 1 {
			v.add(k+".multiplier", "must be >= 1")
		}
	}
	if b.Jitter != nil {
		if dst.Jitter = *b.Jitter; dst.Jitter < 0 || dst.Jitter >= 1 {
			v.add(k+".jitter", "must be in [0, 1)")
		}
	}
	if dst.Max < dst.Initial {
		v.add(k+".max", "must be >= initial (%s)", dst.Initial)
	}
}

func (v *validator) startLimit(k string, sl *fileStartLimit, dst *StartLimit) {
	if sl.Burst != nil {
		if dst.Burst = *sl.Burst; dst.Burst < 1 {
			v.add(k+".burst", "must be >= 1")
		}
	}
	v.duration(k+".interval", sl.Interval, &dst.Interval, false)
}

// duration parses a duration key into *dst. zeroOK allows "0s".
func (v *validator) duration(key string, s *string, dst *time.Duration, zeroOK bool) {
	if s == nil {
		return
	}
	d, err := time.ParseDuration(*s)
	switch {
	case err != nil:
		v.add(key, "bad duration %q (want e.g. \"2s\", \"500ms\", \"1m\")", *s)
	case d < 0:
		v.add(key, "must not be negative")
	case d == 0 && !zeroOK:
		v.add(key, "must be > 0")
	default:
		*dst = d
		return
	}
}

func (v *validator) stop(key string, f *fileStop) StopSpec {
	signals := f.Signals
	if signals == nil {
		signals = []string{"TERM"}
	}
	var waits []time.Duration
	switch w := f.Wait.(type) {
	case nil:
		waits = []time.Duration{defaultStopWait}
	case string:
		var d time.Duration
		v.duration(key+".wait", &w, &d, false)
		waits = []time.Duration{d}
	case []any:
		if len(w) != len(signals) {
			v.add(key+".wait", "has %d durations for %d signals (give one, or one per signal)", len(w), len(signals))
		}
		for _, x := range w {
			s, ok := x.(string)
			if !ok {
				v.add(key+".wait", "entries must be duration strings like \"2s\"")
				continue
			}
			var d time.Duration
			v.duration(key+".wait", &s, &d, false)
			waits = append(waits, d)
		}
	default:
		v.add(key+".wait", "must be a duration string or an array of them")
	}
	spec := StopSpec{KillWait: DefaultKillWait}
	v.duration(key+".kill_wait", f.KillWait, &spec.KillWait, false)
	for i, name := range signals {
		sig, err := signame.Parse(name)
		if err != nil {
			v.add(key+".signals", "%v", err)
			continue
		}
		if sig == unix.SIGKILL {
			v.add(key+".signals", "KILL is always sent last; do not list it")
			continue
		}
		wait := defaultStopWait
		if len(waits) > 0 {
			wait = waits[min(i, len(waits)-1)]
		}
		spec.Steps = append(spec.Steps, StopStep{Signal: sig, Wait: wait})
	}
	return spec
}

func (v *validator) positive(key string, p *int, dst *int) {
	if p == nil {
		return
	}
	if *p < 1 {
		v.add(key, "must be >= 1")
		return
	}
	*dst = *p
}

// dependencies reports unknown dependencies and cycles.
func (v *validator) dependencies(children []ChildSpec, index map[string]int) {
	for i, c := range children {
		for _, d := range c.DependsOn {
			if _, ok := index[d]; !ok && d != "" {
				v.add("child."+strconv.Itoa(i)+".depends_on", "unknown child %q", d)
			}
			if d == c.Name && d != "" {
				v.add("child."+strconv.Itoa(i)+".depends_on", "%q depends on itself", d)
			}
		}
	}
	if _, cycle := StartLevels(children); cycle != nil {
		i := index[cycle[0]]
		v.add("child."+strconv.Itoa(i)+".depends_on", "dependency cycle: %s", strings.Join(cycle, " -> "))
	}
}
