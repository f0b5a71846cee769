//go:build linux

package config

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/resreap/resreap/internal/safefs"
)

// ReadySpec says when a started child is ready: a TCP connect, an HTTP GET
// answered 2xx, a command that exits 0, or READY=1 sent by the child over
// its notify socket. Without one a child is ready once it has stayed up
// start_seconds. TCP and HTTP may hold {pid} and {generation} (TmplPID,
// TmplGeneration), expanded for the process probed.
type ReadySpec struct {
	TCP      string        // "127.0.0.1:8010"
	HTTP     string        // "http://127.0.0.1:8010/health"
	Exec     []string      // argv
	Notify   bool          // READY=1 on NOTIFY_SOCKET (sd_notify)
	Timeout  time.Duration // of one probe
	Interval time.Duration // between probes
}

// Enabled reports whether a probe is configured.
func (r ReadySpec) Enabled() bool { return r.TCP != "" || r.HTTP != "" || len(r.Exec) > 0 || r.Notify }

// String names the probe for logs: "tcp 127.0.0.1:8010".
func (r ReadySpec) String() string {
	switch {
	case r.TCP != "":
		return "tcp " + r.TCP
	case r.HTTP != "":
		return "http " + r.HTTP
	case len(r.Exec) > 0:
		return "exec " + strings.Join(r.Exec, " ")
	case r.Notify:
		return "notify READY=1"
	}
	return "none"
}

// LivenessSpec keeps the ready probe running once the child runs: Failures
// probes failing in a row restart it (reason liveness). 0 is off.
// Interval is the time between those probes: readiness is probed every
// ready.interval until the child is ready, then liveness every Interval,
// which is much longer (10s by default) since a running child is asked
// only whether it still answers: at ready.interval's 500ms that was
// 172,800 requests a day in the child's access log.
type LivenessSpec struct {
	Failures int
	Interval time.Duration
}

// Output modes of a child's stdout or stderr.
const (
	OutputInherit = "inherit" // resreap's own stdout/stderr, lines prefixed with the child's name
	OutputNull    = "null"    // discarded
	OutputFile    = "file"    // a file of its own, rotated by size
)

// OutputSpec says where a child's stdout or stderr goes.
type OutputSpec struct {
	Mode     string // OutputInherit, OutputNull or OutputFile
	File     string // OutputFile: the path
	MaxSize  int64  // OutputFile: rotate at this size
	Keep     int    // OutputFile: rotated files kept
	Compress bool   // OutputFile: gzip rotated files
	// Owner and Group own the files resreap creates for OutputFile (a
	// user and a group, by name or number): "" is the child's user (root
	// for a child without one) and the owner's primary group, so that a
	// log shipper in that group can read them. Existing files keep theirs.
	Owner, Group string
	// FileMode is the permission bits of those files (0640 by default):
	// never executable, setuid, setgid or writable by every user.
	FileMode uint32
}

type fileReady struct {
	TCP      *string  `toml:"tcp"`
	HTTP     *string  `toml:"http"`
	Exec     []string `toml:"exec"`
	Notify   *bool    `toml:"notify"`
	Timeout  *string  `toml:"timeout"`
	Interval *string  `toml:"interval"`
}

type fileLiveness struct {
	Failures *int    `toml:"failures"`
	Interval *string `toml:"interval"`
}

// operations validates the keys that fit a child into the tools around
// it: readiness, liveness, output, environment file.
func (v *validator) operations(key string, f *fileChild, c *ChildSpec) {
	if f.Ready != nil {
		v.ready(key+".ready", f.Ready, &c.Ready)
	}
	v.duration(key+".start_timeout", f.StartTimeout, &c.StartTimeout, rangeStartTimeout)
	if f.Liveness != nil {
		intIn(v, key+".liveness.failures", f.Liveness.Failures, &c.Liveness.Failures, rangeLivenessFailures)
		v.duration(key+".liveness.interval", f.Liveness.Interval, &c.Liveness.Interval, rangeLivenessInterval)
		if c.Liveness.Failures > 0 && (f.Ready == nil || c.Ready.Notify) {
			v.add(key+".liveness", "needs a ready probe to run (tcp, http or exec)")
		}
	}
	c.Required = f.Required != nil && *f.Required
	c.Stdout = v.output(key+".stdout", f.Stdout, c.Stdout)
	c.Stderr = v.output(key+".stderr", f.Stderr, c.Stderr)
	v.capture(key, f, &c.Capture)
}

// capture validates capture, capture_dir, capture_output and
// capture_keep. The directory defaults to <state_dir>/captures, filled in
// by config once the state_dir is known.
func (v *validator) capture(key string, f *fileChild, c *CaptureSpec) {
	c.Enabled = f.Capture != nil && *f.Capture
	if f.CaptureDir != nil {
		c.Dir = relTo(v.base, v.expand(key+".capture_dir", *f.CaptureDir))
	}
	v.duration(key+".capture_output", f.CaptureOutput, &c.Output, rangeCaptureOutput)
	intIn(v, key+".capture_keep", f.CaptureKeep, &c.Keep, rangeCaptureKeep)
	if !c.Enabled {
		for _, k := range []struct {
			name string
			set  bool
		}{{"capture_dir", f.CaptureDir != nil}, {"capture_output", f.CaptureOutput != nil}, {"capture_keep", f.CaptureKeep != nil}} {
			if k.set {
				v.add(key+"."+k.name, "has no effect without capture = true")
			}
		}
	}
}

func (v *validator) ready(key string, f *fileReady, r *ReadySpec) {
	n := 0
	if f.TCP != nil {
		n++
		r.TCP = v.expand(key+".tcp", *f.TCP)
		if _, _, err := net.SplitHostPort(probeTemplates.Replace(r.TCP)); err != nil {
			v.add(key+".tcp", "want host:port, not %q", r.TCP)
		}
	}
	if f.HTTP != nil {
		n++
		r.HTTP = v.expand(key+".http", *f.HTTP)
		if u, err := url.Parse(probeTemplates.Replace(r.HTTP)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(key+".http", "want an http:// or https:// URL, not %q", r.HTTP)
		}
	}
	if f.Exec != nil {
		n++
		r.Exec = v.expandAll(key+".exec", f.Exec)
		if len(r.Exec) == 0 || r.Exec[0] == "" {
			v.add(key+".exec", "empty command")
		}
	}
	if f.Notify != nil && *f.Notify {
		n++
		r.Notify = true
	}
	if n != 1 {
		v.add(key, "give exactly one of tcp, http, exec and notify = true")
	}
	v.duration(key+".timeout", f.Timeout, &r.Timeout, rangeReadyTimeout)
	v.duration(key+".interval", f.Interval, &r.Interval, rangeReadyInterval)
}

// output reads stdout or stderr: "inherit", "null" or a table with file.
func (v *validator) output(key string, x any, def OutputSpec) OutputSpec {
	switch o := x.(type) {
	case nil:
		return def
	case string:
		if o != OutputInherit && o != OutputNull {
			v.add(key, "must be \"inherit\", \"null\" or { file = \"...\" }, not %q", o)
		}
		return OutputSpec{Mode: o}
	case map[string]any:
		return v.outputFile(key, o)
	}
	v.add(key, "must be \"inherit\", \"null\" or { file = \"...\" }")
	return def
}

func (v *validator) outputFile(key string, m map[string]any) OutputSpec {
	out := OutputSpec{Mode: OutputFile, MaxSize: defaultOutputMaxSize, Keep: defaultOutputKeep, FileMode: defaultOutputFileMode}
	_, hasFile := m["file"]
	for _, k := range slices.Sorted(maps.Keys(m)) { // problems in the same order at every run
		val := m[k]
		switch k {
		case "file":
			s, ok := val.(string)
			if !ok || s == "" {
				v.add(key+".file", "must be a path")
				continue
			}
			out.File = relTo(v.base, v.expand(key+".file", s))
		case "max_size":
			v.size(key+".max_size", val, &out.MaxSize, rangeOutputMaxSize)
		case "keep":
			n, ok := val.(int64)
			if !ok || n < int64(rangeOutputKeep.min) || n > int64(rangeOutputKeep.max) {
				v.add(key+".keep", "must be a whole number between %d and %d", rangeOutputKeep.min, rangeOutputKeep.max)
				continue
			}
			out.Keep = int(n)
		case "compress":
			b, ok := val.(bool)
			if !ok {
				v.add(key+".compress", "must be true or false")
			}
			out.Compress = b
		case "owner":
			out.Owner = v.account(key+".owner", val, "user")
		case "group":
			out.Group = v.account(key+".group", val, "group")
		case "mode":
			out.FileMode = v.fileMode(key+".mode", val)
		default:
			v.add(key+"."+k, "unknown key")
		}
	}
	if !hasFile {
		v.add(key+".file", "missing: where the output goes")
	}
	return out
}

// account reads a user or group (what) by name or number. Whether it
// exists is a host check (see Host.Check): the file may be meant for
// another machine.
func (v *validator) account(key string, val any, what string) string {
	s, ok := val.(string)
	if !ok || s == "" {
		v.add(key, "must be a %s name or number, as a string", what)
		return ""
	}
	return s
}

// fileMode reads the mode of an output file: an octal string, as chmod
// takes it ("0640"). A number is refused: 640 in TOML is decimal, and
// would be mode 01200. Bits an output file never needs are refused too:
// execute (it is data, not a program), setuid, setgid and sticky, and
// write for every user (anyone could then fill it or forge lines in it).
func (v *validator) fileMode(key string, val any) uint32 {
	s, ok := val.(string)
	if !ok {
		v.add(key, "must be an octal string such as \"0640\"")
		return defaultOutputFileMode
	}
	m, err := strconv.ParseUint(s, 8, 32)
	switch {
	case err != nil:
		v.add(key, "%q is not an octal mode such as \"0640\"", s)
	case m&^0o777 != 0:
		v.add(key, "%s sets setuid, setgid or sticky bits (%04o): an output file needs none", s, m&^0o777)
	case m&0o111 != 0:
		v.add(key, "%s makes the file executable: an output file needs read and write bits only", s)
	case m&0o002 != 0:
		v.add(key, "%s lets every user write the file: anyone could fill it or forge lines in it", s)
	default:
		return uint32(m)
	}
	return defaultOutputFileMode
}

// envFile reads a file of KEY=VALUE lines, as systemd's EnvironmentFile:
// blank lines and # comments are skipped, a value may be in single or
// double quotes, and "export " before the name is allowed.
//
// The file is read as root and becomes a child's environment, so it is
// read through safefs, trusting root alone (safefs.Self): a link another
// user could have made, a file with several links or of another user, and
// a directory on the way that another user may write are refused, before
// a line of what they point at is read, let alone shown in a problem.
func (v *validator) envFile(key, path string) map[string]string {
	data, err := readRegular(path, safefs.Self())
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			err = fmt.Errorf("%s: %w", path, err)
		}
		v.add(key, "%v", err)
		return nil
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\x00") {
			v.add(key, "%s:%d: want KEY=VALUE, not %q", path, n, line)
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		env[k] = val
	}
	if err := sc.Err(); err != nil {
		v.add(key, "%s: %v", path, err)
	}
	return env
}

// expand expands ${VAR} in s from resreap's environment (see expand),
// reporting an unset variable as a problem of key.
func (v *validator) expand(key, s string) string {
	out, err := expand(s, v.lookupEnv)
	if err != nil {
		v.add(key, "%v", err)
		return s
	}
	return out
}

// expandAll expands every element of argv.
func (v *validator) expandAll(key string, argv []string) []string {
	if argv == nil {
		return nil
	}
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = v.expand(key, a)
	}
	return out
}

// lookupEnv is os.LookupEnv, unless a test set v.getenv.
func (v *validator) lookupEnv(k string) (string, bool) {
	if v.getenv != nil {
		return v.getenv(k)
	}
	return os.LookupEnv(k)
}

// probeTemplates stands a PID for {pid} and {generation}, to check a
// probe's address as it will be once expanded.
var probeTemplates = strings.NewReplacer(TmplPID, "1", TmplGeneration, "1")
