//go:build linux

package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/resreap/resreap/health"
)

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong in a configuration file.
type Problem struct {
	Line int    // 1-based; 0 when unknown
	Key  string // e.g. "child[1].stop.signals"
	Msg  string
}

// Error lists every problem found in one file.
type Error struct {
	Path     string
	Problems []Problem
	// partial is what Parse could read of a file it found problems in,
	// for CheckFile's host checks; nil for a file it could not decode.
	partial *Config
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d: %s: %s", e.Path, p.Line, p.Key, p.Msg)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for a *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Load reads, decodes and validates the TOML file at path. On any
// problem it returns a *Error naming every problem with its line;
// nothing in the file is used then. A path that is not a regular file is
// refused at once (ErrNotRegular, see openRegular).
func Load(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; path is used in messages.
func Parse(path string, data []byte) (*Config, error) {
	var fc fileConfig
	md, err := toml.Decode(string(data), &fc)
	if err != nil {
		return nil, &Error{Path: path, Problems: []Problem{decodeProblem(err, md, string(data))}}
	}
	v := &validator{base: baseDir(path), lines: locateKeys(string(data))}
	for _, c := range fc.Child {
		v.names = append(v.names, childName(c.Name))
	}
	for _, k := range md.Undecoded() {
		if !freeForm(k) {
			v.unknownKey(k)
		}
	}
	cfg := v.config(path, &fc)
	cfg.lines = v.lines
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
		return nil, &Error{Path: path, Problems: v.problems, partial: cfg}
	}
	return cfg, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// unknownKey reports a key the decoder did not use. The decoder's key has
// no array index, so every element of an array of tables that holds the
// key gets its own problem.
func (v *validator) unknownKey(k toml.Key) {
	path := strings.Join(k, ".")
	found := false
	for loc, line := range v.lines {
		if stripIndexes(loc) == path {
			key := v.displayKey(loc)
			if key == "" {
				key = k.String() // an empty key: `""`
			}
			v.problems = append(v.problems, Problem{Line: line, Key: key, Msg: "unknown key"})
			found = true
		}
	}
	if !found {
		// The decoder's own spelling, quoted where TOML needs it (an
		// empty key, a dot inside a key).
		v.problems = append(v.problems, Problem{Key: k.String(), Msg: "unknown key"})
	}
}

func stripIndexes(path string) string {
	parts := strings.Split(path, ".")
	out := parts[:0]
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// displayKey turns "child.1.stop" into "child[fe-server].stop", naming
// the child when it has a name, else "child[1].stop".
func (v *validator) displayKey(path string) string {
	parts := strings.Split(path, ".")
	var b strings.Builder
	for i, p := range parts {
		if n, err := strconv.Atoi(p); err == nil {
			if i == 1 && parts[0] == "child" && n < len(v.names) && v.names[n] != "" {
				p = v.names[n]
			}
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func (v *validator) supervisorConfig(path string, fs *fileSupervisor) Supervisor {
	// The paths and the listen address take ${VAR} and ${VAR:-default}
	// as the children's do: one file serves several setups (the demo's
	// directory and ports).
	ex := func(key string, p *string) *string {
		if p == nil {
			return nil
		}
		s := v.expand("supervisor."+key, *p)
		return &s
	}
	sc := Supervisor{
		StateDir:       strOr(ex("state_dir", fs.StateDir), DefaultStateDir),
		HistoryMaxSize: defaultHistoryMaxSize,
		HistoryKeep:    defaultHistoryKeep,
		ControlSocket:  strOr(ex("control_socket", fs.ControlSocket), DefaultControlSocket),
		ControlGroup:   strOr(fs.ControlGroup, ""),
		HealthReader:   strOr(fs.Health.Reader, health.ReaderAuto),
		HealthSource:   strOr(fs.Health.Source, health.SourceAuto),
		Cgroup:         strOr(fs.Cgroup, CgroupAuto),
		MetricsListen:  strOr(ex("metrics_listen", fs.MetricsListen), ""),
	}
	if sc.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(sc.MetricsListen); err != nil {
			v.add("supervisor.metrics_listen", "want host:port (e.g. 127.0.0.1:9321), not %q", sc.MetricsListen)
		}
	}
	switch c := sc.Cgroup; {
	case c == CgroupAuto, c == CgroupOff:
	case !strings.HasPrefix(c, "/") || strings.Contains(c, "/../") || strings.HasSuffix(c, "/.."):
		v.add("supervisor.cgroup", "must be auto, off or an absolute cgroup path like /resreap, not %q", c)
	}
	base := v.base
	sc.StateDir = relTo(base, sc.StateDir)
	sc.HistoryFile = relTo(base, strOr(ex("history_file", fs.HistoryFile), filepath.Join(sc.StateDir, defaultHistoryName)))
	if sc.ControlSocket != "" {
		sc.ControlSocket = relTo(base, sc.ControlSocket)
	}
	for _, kv := range [][2]string{{"state_dir", sc.StateDir}, {"history_file", sc.HistoryFile}, {"control_socket", sc.ControlSocket}, {"control_group", sc.ControlGroup}} {
		if strings.ContainsRune(kv[1], 0) {
			v.add("supervisor."+kv[0], "contains a NUL byte")
		}
	}
	if len(sc.ControlSocket) > maxSocketPath {
		v.add("supervisor.control_socket", "%s is %d bytes long; a Unix socket path holds at most %d", sc.ControlSocket, len(sc.ControlSocket), maxSocketPath)
	}
	v.size("supervisor.history_max_size", fs.HistoryMaxSize, &sc.HistoryMaxSize, rangeHistoryMaxSize)
	intIn(v, "supervisor.history_keep", fs.HistoryKeep, &sc.HistoryKeep, rangeHistoryKeep)
	switch sc.HealthReader {
	case health.ReaderAuto, health.ReaderNetlink, health.ReaderProc:
	default:
		v.add("supervisor.health.reader", "must be auto, netlink or proc, not %q", sc.HealthReader)
	}
	switch sc.HealthSource {
	case health.SourceAuto, health.SourceBPF, health.SourceDump:
	default:
		v.add("supervisor.health.source", "must be auto, bpf or dump, not %q", sc.HealthSource)
	}
	return sc
}

// maxSocketPath is the longest path bind(2) takes for a Unix socket:
// sun_path holds 108 bytes with the terminating NUL.
const maxSocketPath = 107

// relTo resolves a relative path against the config file's directory, so
// a config works the same from any working directory.
func relTo(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// freeForm reports whether k is inside a value the validator reads
// itself (stdout, stderr: a string or a table), whose keys the decoder
// leaves undecoded.
func freeForm(k toml.Key) bool {
	return len(k) > 2 && (k[0] == "child" || k[0] == "defaults") && (k[1] == "stdout" || k[1] == "stderr")
}

// childName is a child's name as a problem shows it: "" (show its index)
// when it has none, or none a reader could take for a name, or a very long
// one.
func childName(p *string) string {
	if p == nil || *p == "" || len(*p) > 64 || strings.ContainsAny(*p, " \t\n/[]") {
		return ""
	}
	return *p
}

// LoadSupervisor reads only the [supervisor] table of a config file:
// where the history and the control socket are. The command-line clients
// use it so that a file whose children are being edited (and may be
// invalid, even not TOML at all) still leads them to the running resreap,
// which then reports the problems itself: when the whole file does not
// parse, the [supervisor] tables are read alone. Only a problem in those
// tables is an error, with its line.
func LoadSupervisor(path string) (Supervisor, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return Supervisor{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var fc struct {
		Supervisor fileSupervisor `toml:"supervisor"`
	}
	src := string(data)
	md, err := toml.Decode(src, &fc)
	if err != nil {
		src = supervisorTables(src)
		fc.Supervisor = fileSupervisor{}
		if md, err = toml.Decode(src, &fc); err != nil {
			return Supervisor{}, &Error{Path: path, Problems: []Problem{decodeProblem(err, md, src)}}
		}
	}
	v := &validator{base: baseDir(path), lines: locateKeys(src)}
	for _, k := range md.Undecoded() {
		if len(k) > 1 && k[0] == "supervisor" {
			v.unknownKey(k) // a misspelt control_socket must not silently mean the default
		}
	}
	sc := v.supervisorConfig(path, &fc.Supervisor)
	if len(v.problems) > 0 {
		return sc, &Error{Path: path, Problems: v.problems}
	}
	return sc, nil
}

// supervisorTables returns src with every line blanked but those of the
// [supervisor] table and its sub-tables, so that their line numbers stay
// those of the file. It reads src line by line (headerLine): src is not
// TOML as a whole, and a header after a broken line must still count.
func supervisorTables(src string) string {
	lines := strings.Split(src, "\n")
	in := false
	for i, l := range lines {
		if key, ok := headerLine(l); ok {
			in = len(key) > 0 && key[0] == "supervisor"
		}
		if !in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// baseDir is the absolute directory of the config file at path: relative
// paths in the file, and a child's default working directory, are taken
// from it, whatever resreap's own working directory.
func baseDir(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return filepath.Dir(path)
}
