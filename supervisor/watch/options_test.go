//go:build linux

package watch

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
)

func TestParseDefaults(t *testing.T) {
	o, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o, DefaultOptions()) {
		t.Errorf("Parse(nil) = %+v, want %+v", o, DefaultOptions())
	}
	if o.Limit != 2 || o.Interval != 2*time.Second || o.Signal != unix.SIGTERM || o.Wait != 2*time.Second ||
		o.PreSignal != 0 || o.Pattern != nil || o.OpenMax.Enabled() || o.Reader != health.ReaderAuto {
		t.Errorf("defaults %+v differ from the old tool's", o)
	}
}

// TestParseFlags gives every flag in its short and long form.
func TestParseFlags(t *testing.T) {
	ignore := func(s ...string) health.IgnoreList {
		l, err := health.ParseIgnore(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, tc := range []struct {
		args  []string
		check func(Options) bool
	}{
		{[]string{"-f", "java.*-jar"}, func(o Options) bool { return o.Pattern.String() == "java.*-jar" }},
		{[]string{"--pattern", "fe-server"}, func(o Options) bool { return o.Pattern.String() == "fe-server" }},
		{[]string{"--pattern=a b"}, func(o Options) bool { return o.Pattern.String() == "a b" }},
		{[]string{"-F", "10.0.0.5:8080"}, func(o Options) bool { return reflect.DeepEqual(o.Ignore, ignore("10.0.0.5:8080")) }},
		{[]string{"-F", "10.0.0.5:8080", "--foreign", "192.168.0.0/16", "-F", ":6379", "--foreign=[::1]:9000"},
			func(o Options) bool {
				return reflect.DeepEqual(o.Ignore, ignore("10.0.0.5:8080", "192.168.0.0/16", ":6379", "[::1]:9000"))
			}},
		{[]string{"-l", "5"}, func(o Options) bool { return o.Limit == 5 }},
		{[]string{"--limit", "1"}, func(o Options) bool { return o.Limit == 1 }},
		{[]string{"-l5"}, func(o Options) bool { return o.Limit == 5 }},
		{[]string{"-i", "0.5"}, func(o Options) bool { return o.Interval == 500*time.Millisecond }},
		{[]string{"--interval", "3"}, func(o Options) bool { return o.Interval == 3*time.Second }},
		{[]string{"--interval", "250ms"}, func(o Options) bool { return o.Interval == 250*time.Millisecond }},
		{[]string{"-c", "jstack $pid > /tmp/dump"}, func(o Options) bool { return o.Command == "jstack $pid > /tmp/dump" }},
		{[]string{"--command", "true"}, func(o Options) bool { return o.Command == "true" }},
		{[]string{"-s", "INT"}, func(o Options) bool { return o.Signal == unix.SIGINT }},
		{[]string{"--signal", "SIGHUP"}, func(o Options) bool { return o.Signal == unix.SIGHUP }},
		{[]string{"-s", "9"}, func(o Options) bool { return o.Signal == unix.SIGKILL }},
		{[]string{"-S", "QUIT"}, func(o Options) bool { return o.PreSignal == unix.SIGQUIT }},
		{[]string{"--pre-signal", "usr1"}, func(o Options) bool { return o.PreSignal == unix.SIGUSR1 }},
		{[]string{"-w", "5"}, func(o Options) bool { return o.Wait == 5*time.Second }},
		{[]string{"--wait", "0.25"}, func(o Options) bool { return o.Wait == 250*time.Millisecond }},
		{[]string{"--wait", "0"}, func(o Options) bool { return o.Wait == 0 }},
		{[]string{"-o", "1000"}, func(o Options) bool { return o.OpenMax == OpenMax{Count: 1000} }},
		{[]string{"--openmax", "90%"}, func(o Options) bool { return o.OpenMax == OpenMax{Ratio: 0.9} }},
		{[]string{"-o", "100%"}, func(o Options) bool { return o.OpenMax == OpenMax{Ratio: 1} }},
		{[]string{"-o", "90%", "-p", "-C java"}, func(o Options) bool { return reflect.DeepEqual(o.PSFilter, []string{"-C", "java"}) }},
		{[]string{"-o", "50", "--psfilter", "-u www-data"}, func(o Options) bool { return reflect.DeepEqual(o.PSFilter, []string{"-u", "www-data"}) }},
		{[]string{"-d"}, func(o Options) bool { return o.DryRun }},
		{[]string{"--dry-run"}, func(o Options) bool { return o.DryRun }},
		{[]string{"-D"}, func(o Options) bool { return o.Debug }},
		{[]string{"--debug"}, func(o Options) bool { return o.Debug }},
		{[]string{"-dD"}, func(o Options) bool { return o.DryRun && o.Debug }},
		{[]string{"--once"}, func(o Options) bool { return o.Once }},
		{[]string{"--json"}, func(o Options) bool { return o.JSON }},
		{[]string{"--history", "/var/lib/resreap/watch.jsonl"}, func(o Options) bool { return o.History == "/var/lib/resreap/watch.jsonl" }},
		{[]string{"--reader", "proc"}, func(o Options) bool { return o.Reader == health.ReaderProc }},
		{[]string{"--reader", "netlink"}, func(o Options) bool { return o.Reader == health.ReaderNetlink }},
		{[]string{"--reader=auto"}, func(o Options) bool { return o.Reader == health.ReaderAuto }},
		{[]string{"--source", "dump"}, func(o Options) bool { return o.Source == health.SourceDump }},
		{[]string{"--source=bpf"}, func(o Options) bool { return o.Source == health.SourceBPF }},
		{nil, func(o Options) bool { return o.Source == health.SourceAuto }},
		{[]string{"-h"}, func(o Options) bool { return o.Help }},
		{[]string{"--help"}, func(o Options) bool { return o.Help }},
		{[]string{"-v"}, func(o Options) bool { return o.Version }},
		{[]string{"--version"}, func(o Options) bool { return o.Version }},
		// Help wins over an otherwise bad command line, as with most tools.
		{[]string{"-h", "-l", "x"}, func(o Options) bool { return o.Help }},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o, err := Parse(tc.args)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tc.check(o) {
				t.Errorf("Parse(%q) = %+v", tc.args, o)
			}
		})
	}
}

// TestParseErrors gives every bad value; each error is one line that names
// the flag.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the message
	}{
		{[]string{"-x"}, "'x'"},
		{[]string{"--bogus"}, "--bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-f"}, "'f'"},
		{[]string{"-f", "("}, "-f/--pattern"},
		{[]string{"--pattern", "a[b"}, "-f/--pattern"},
		{[]string{"-F", "10.0.0.5:0"}, "-F/--foreign"},
		{[]string{"-F", "10.0.0.5:99999"}, "-F/--foreign"},
		{[]string{"--foreign", "host.example:80"}, "-F/--foreign"},
		{[]string{"-F", ""}, "-F/--foreign"},
		{[]string{"-F", "[::1"}, "-F/--foreign"},
		{[]string{"--foreign"}, "--foreign"},
		{[]string{"-l", "0"}, "-l/--limit"},
		{[]string{"-l", "-3"}, "-l/--limit"},
		{[]string{"--limit", "two"}, "-l/--limit"},
		{[]string{"-l", "1.5"}, "-l/--limit"},
		{[]string{"-i", "0"}, "-i/--interval"},
		{[]string{"-i", "-1"}, "-i/--interval"},
		{[]string{"--interval", "soon"}, "-i/--interval"},
		{[]string{"-i", "NaN"}, "-i/--interval"},
		{[]string{"-i", "1e300"}, "-i/--interval"},
		{[]string{"-c", ""}, "-c/--command"},
		{[]string{"--command", "  "}, "-c/--command"},
		{[]string{"-s", "FOO"}, "-s/--signal"},
		{[]string{"--signal", "0"}, "-s/--signal"},
		{[]string{"-s", ""}, "-s/--signal"},
		{[]string{"-S", "SIGNOPE"}, "-S/--pre-signal"},
		{[]string{"--pre-signal", "999"}, "-S/--pre-signal"},
		{[]string{"-w", "-1"}, "-w/--wait"},
		{[]string{"--wait", "a while"}, "-w/--wait"},
		{[]string{"-o", "0"}, "-o/--openmax"},
		{[]string{"-o", "0%"}, "-o/--openmax"},
		{[]string{"-o", "101%"}, "-o/--openmax"},
		{[]string{"--openmax", "many"}, "-o/--openmax"},
		{[]string{"-o", "x%"}, "-o/--openmax"},
		{[]string{"-o", "-5"}, "-o/--openmax"},
		{[]string{"-p", "-C java"}, "-p/--psfilter"},        // without -o
		{[]string{"-o", "90%", "-p", " "}, "-p/--psfilter"}, // empty
		{[]string{"--history", ""}, "--history"},
		{[]string{"--reader", "fast"}, "--reader"},
		{[]string{"--source", "ebpf"}, "--source"},
		{[]string{"--once=maybe"}, "--once"},
		{[]string{"--act"}, "--act"}, // without --once
		{[]string{"--command-timeout", "0"}, "--command-timeout"},
		{[]string{"--json=2"}, "--json"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := Parse(tc.args)
			if err == nil {
				t.Fatalf("Parse(%q): no error", tc.args)
			}
			if !errors.Is(err, ErrUsage) {
				t.Errorf("error %v does not match ErrUsage", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tc.want)
			}
		})
	}
}

func TestOpenMaxString(t *testing.T) {
	for in, want := range map[string]string{"90%": "90%", "12.5%": "12.5%", "1000": "1000"} {
		o, err := parseOpenMax(in)
		if err != nil || o.String() != want {
			t.Errorf("parseOpenMax(%q) = %+v, %v; String %q, want %q", in, o, err, o.String(), want)
		}
	}
	if (OpenMax{}).String() != "" || (OpenMax{}).Enabled() {
		t.Error("zero OpenMax is not off")
	}
}

// TestUsageNamesEveryFlag keeps the help text in step with the flags.
func TestUsageNamesEveryFlag(t *testing.T) {
	for _, f := range []string{"-f, --pattern", "-F, --foreign", "-l, --limit", "-i, --interval", "-c, --command",
		"-s, --signal", "-S, --pre-signal", "-w, --wait", "-o, --openmax", "-p, --psfilter", "-d, --dry-run",
		"-D, --debug", "--once", "--act", "--json", "--history", "--source", "--reader", "-h, --help", "-v, --version"} {
		if !strings.Contains(Usage, f) {
			t.Errorf("Usage does not mention %q", f)
		}
	}
}
