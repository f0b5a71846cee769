//go:build linux

package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/signame"
	"github.com/resreap/resreap/internal/textsafe"
)

// validator converts the decoded file into a Config and collects every
// problem on the way, each with the line of the key it is about.
type validator struct {
	base     string // directory of the config file; relative paths start there
	lines    keyLines
	names    []string // the children's names, by index: problems name the child
	problems []Problem
	// getenv looks ${VAR} up; nil means os.LookupEnv.
	getenv func(string) (string, bool)
}

// add records a problem about path, a dotted key path with array indexes
// ("child.1.stop.signals").
//
// A child's value may come from [defaults]: when the child's table does
// not set the key itself but [defaults] does, the problem is reported at
// the defaults key, once, however many children inherit it.
//
// The key and the message are escaped (textsafe): a problem quotes what
// the file, an env_file or the environment holds, and `check` and `run`
// print it on a terminal.
func (v *validator) add(path, format string, args ...any) {
	if parts := strings.SplitN(path, ".", 3); len(parts) == 3 && parts[0] == "child" {
		if _, own := v.lines.exact(path); !own {
			if _, inherited := v.lines.exact("defaults." + parts[2]); inherited {
				path = "defaults." + parts[2]
			}
		}
	}
	p := Problem{Line: v.lines.lineOf(path), Key: textsafe.Escape(v.displayKey(path)), Msg: textsafe.Escape(fmt.Sprintf(format, args...))}
	if !slices.Contains(v.problems, p) {
		v.problems = append(v.problems, p)
	}
}

func (v *validator) config(path string, fc *fileConfig) *Config {
	// A key names its child by name only when the name is a good one:
	// a bad name is shown once, quoted, in its own problem, and every
	// key of that child is child[<index>].
	for i, n := range v.names {
		if nameProblem(n) != "" {
			v.names[i] = ""
		}
	}
	cfg := &Config{Path: path, Supervisor: v.supervisorConfig(path, &fc.Supervisor)}
	if fc.Defaults.Name != nil {
		v.add("defaults.name", "a name cannot be a default")
	}
	if len(fc.Child) == 0 {
		v.add("child", "no [[child]] defined")
	}
	if fc.Defaults.Instances != nil {
		v.add("defaults.instances", "instances cannot be a default")
		fc.Defaults.Instances = nil
	}
	seen := map[string]int{}
	for i := range fc.Child {
		fch := fc.Child[i]
		mergeInto(&fch, &fc.Defaults)
		key := "child." + strconv.Itoa(i)
		for _, spec := range v.instances(key, &fch, v.child(key, &fch)) {
			v.checkListen(key, &spec)
			if spec.Name != "" {
				if j, dup := seen[spec.Name]; dup {
					v.add(key+".name", "duplicate name %q (also child[%d])", spec.Name, j)
				}
				seen[spec.Name] = i
			}
			cfg.Children = append(cfg.Children, spec)
		}
	}
	expandDependencies(cfg.Children)
	v.dependencies(cfg.Children, seen)
	cfg.Fleet = v.fleet(fc.Fleet)
	cfg.Groups = v.groups(fc.Group, cfg.Children)
	v.fleetGroups(fc.Group, cfg)
	for i := range cfg.Children {
		if c := &cfg.Children[i].Capture; c.Dir == "" {
			c.Dir = filepath.Join(cfg.Supervisor.StateDir, "captures")
		}
	}
	return cfg
}

func (v *validator) child(key string, f *fileChild) ChildSpec {
	c := DefaultChild()
	c.Name = strOr(f.Name, "")
	if msg := nameProblem(c.Name); msg != "" {
		v.add(key+".name", "%s", msg)
	}
	c.Command = v.expandAll(key+".command", f.Command)
	if len(c.Command) == 0 || c.Command[0] == "" {
		v.add(key+".command", "missing or empty command (an argv array, e.g. [\"/usr/bin/app\", \"--flag\"])")
	}
	v.argv(key+".command", c.Command)
	// A child's working directory defaults to the config file's: the
	// directory relative paths are taken from, whatever resreap's own
	// working directory is (/ under systemd, anywhere from a shell).
	c.Dir = relTo(v.base, v.expand(key+".dir", strOr(f.Dir, ".")))
	c.Env = v.childEnv(key, f)
	c.ClearEnv = f.ClearEnv != nil && *f.ClearEnv
	c.User, c.Group = strOr(f.User, ""), strOr(f.Group, "")
	for _, kv := range [][2]string{{"dir", c.Dir}, {"user", c.User}, {"group", c.Group}} {
		if strings.ContainsRune(kv[1], 0) {
			v.add(key+"."+kv[0], "contains a NUL byte")
		}
	}
	var nofile int64
	intIn(v, key+".rlimit_nofile", f.RlimitNofile, &nofile, rangeRlimitNofile)
	c.RlimitNofile = uint64(nofile)
	v.size(key+".memory_max", f.MemoryMax, &c.MemoryMax, rangeMemoryMax)
	intIn(v, key+".pids_max", f.PidsMax, &c.PidsMax, rangePidsMax)
	if f.Restart != nil {
		c.Restart = RestartPolicy(*f.Restart)
		switch c.Restart {
		case RestartAlways, RestartOnFailure, RestartNever:
		default:
			v.add(key+".restart", "must be always, on-failure or never, not %q", *f.Restart)
		}
	}
	v.duration(key+".start_seconds", f.StartGrace, &c.StartGrace, rangeStartSeconds)
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
	v.operations(key, f, &c)
	v.listen(key, f, &c)
	return c
}

// childEnv is the child's environment: its env_file (the file's path and
// the table's values with ${VAR} expanded), with env on top.
func (v *validator) childEnv(key string, f *fileChild) map[string]string {
	var env map[string]string
	if f.EnvFile != nil {
		env = v.envFile(key+".env_file", relTo(v.base, v.expand(key+".env_file", *f.EnvFile)))
	}
	for _, k := range slices.Sorted(maps.Keys(f.Env)) { // problems in the same order at every run
		if env == nil {
			env = map[string]string{}
		}
		env[k] = v.expand(key+".env", f.Env[k])
	}
	v.env(key+".env", env)
	return env
}

// nameProblem says what is wrong with the name of a child or a group, or
// "" when nothing is. A name becomes part of paths (the capture directory
// <capture_dir>/<name>, the cgroup leaf child-<name>.<gen>, {name} in an
// output file) and of every table and log line: it is a safe alphabet,
// ASCII letters, digits, '_', '-' and '.', never '.' first, so that no
// name is "." or "..", none hides as a dot file, none holds a '/' or a
// byte a terminal acts on, and at most maxNameLen bytes. A bad name is
// shown quoted, escaped as Go quotes strings, never raw.
func nameProblem(name string) string {
	switch {
	case name == "":
		return "missing or empty name"
	case len(name) > maxNameLen:
		return fmt.Sprintf("name %s is %d bytes long, more than %d", quoteStart(name), len(name), maxNameLen)
	case name[0] == '.':
		return fmt.Sprintf("name %q starts with '.' (%s)", name, nameRule)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return !nameRune(r) }); i >= 0 {
		r, size := utf8.DecodeRuneInString(name[i:])
		what := strconv.QuoteRune(r)
		if r == utf8.RuneError && size == 1 {
			what = fmt.Sprintf("byte %#x", name[i]) // not UTF-8: QuoteRune would show U+FFFD
		}
		return fmt.Sprintf("name %q has %s (%s)", name, what, nameRule)
	}
	return ""
}

// nameRule is the alphabet of names, for problems.
const nameRule = "a name is ASCII letters, digits, '_', '-' and '.', not first"

// nameRune reports whether r may be in a name: ASCII only, so that a
// name reads the same in every locale and no two look alike.
func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
}

// quoteStart quotes the first bytes of a long name, for a problem that
// must not repeat hundreds of bytes.
func quoteStart(name string) string {
	const show = 16
	if len(name) <= show {
		return strconv.Quote(name)
	}
	return strconv.Quote(name[:show]) + "..."
}

// argv reports arguments the kernel cannot pass: execve(2) takes
// NUL-terminated strings, so a NUL inside one makes every start fail.
func (v *validator) argv(key string, argv []string) {
	for i, a := range argv {
		if strings.ContainsRune(a, 0) {
			v.add(key, "argument %d contains a NUL byte", i)
		}
	}
}

// env reports variables execve(2) cannot pass, or that would read back as
// another variable: an empty name, '=' in the name, NUL anywhere.
func (v *validator) env(key string, env map[string]string) {
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			v.add(key, "bad variable name %q (must be non-empty, without '=' or NUL)", k)
		case strings.ContainsRune(env[k], 0):
			v.add(key, "%s: value contains a NUL byte", k)
		}
	}
}

func (v *validator) backoff(k string, b *fileBackoff, dst *BackoffSpec) {
	okInitial := v.duration(k+".initial", b.Initial, &dst.Initial, rangeBackoffInitial)
	okMax := v.duration(k+".max", b.Max, &dst.Max, rangeBackoffMax)
	if okInitial && okMax && dst.Max < dst.Initial {
		v.add(k+".max", "must be >= initial (%s)", fmtDuration(dst.Initial))
	}
	v.duration(k+".reset_after", b.ResetAfter, &dst.ResetAfter, rangeResetAfter)
	floatIn(v, k+".multiplier", b.Multiplier, &dst.Multiplier, rangeBackoffMultiplier)
	floatIn(v, k+".jitter", b.Jitter, &dst.Jitter, rangeBackoffJitter)
}

func (v *validator) startLimit(k string, sl *fileStartLimit, dst *StartLimit) {
	intIn(v, k+".burst", sl.Burst, &dst.Burst, rangeStartLimitBurst)
	v.duration(k+".interval", sl.Interval, &dst.Interval, rangeStartLimitInterval)
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
		d := defaultStopWait
		v.duration(key+".wait", &w, &d, rangeStopWait)
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
			d := defaultStopWait
			v.duration(key+".wait", &s, &d, rangeStopWait)
			waits = append(waits, d)
		}
	default:
		v.add(key+".wait", "must be a duration string or an array of them")
	}
	spec := StopSpec{KillWait: DefaultKillWait}
	v.duration(key+".kill_wait", f.KillWait, &spec.KillWait, rangeKillWait)
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

// dependencies reports unknown dependencies and cycles.
func (v *validator) dependencies(children []ChildSpec, index map[string]int) {
	for _, c := range children {
		key := "child." + strconv.Itoa(index[c.Name]) + ".depends_on"
		for _, d := range c.DependsOn {
			if _, ok := index[d]; !ok && d != "" {
				v.add(key, "unknown child %q", d)
			}
			if (d == c.Name || d == c.Base) && d != "" {
				v.add(key, "%q depends on itself", d)
			}
		}
	}
	if _, cycle := StartLevels(children); cycle != nil {
		i := index[cycle[0]]
		v.add("child."+strconv.Itoa(i)+".depends_on", "dependency cycle: %s", strings.Join(cycle, " -> "))
	}
}
