//go:build linux

package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const fleetChildren = `
[[child]]
name = "fe"
command = ["/opt/fe"]
instances = 4

[[child]]
name = "db"
command = ["/opt/db"]
`

func TestFleetGood(t *testing.T) {
	t.Setenv("ETCD_PASSWORD", "s3cret")
	src := `
[fleet]
endpoints = ["https://10.0.0.1:2379", "10.0.0.2:2379"]
ca = "tls/ca.pem"
cert = "/etc/resreap/client.pem"
key = "/etc/resreap/client-key.pem"
user = "resreap"
password = "${ETCD_PASSWORD}"
host = "${FLEET_HOST:-web-7}"
lease_ttl = "4s"
unreachable = "hold"
` + fleetChildren + `
[[group]]
name = "frontends"
members = ["fe"]
max_unavailable = 2
fleet = true
fleet_max_unavailable = "10%"

[[group]]
name = "store"
members = ["db"]
`
	cfg, err := Parse("/etc/resreap/r.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &FleetSpec{
		Endpoints: []string{"https://10.0.0.1:2379", "10.0.0.2:2379"},
		CA:        "/etc/resreap/tls/ca.pem", Cert: "/etc/resreap/client.pem", Key: "/etc/resreap/client-key.pem",
		User: "resreap", Password: "s3cret", Prefix: "/resreap/", Host: "web-7",
		LeaseTTL: 4 * time.Second, Unreachable: FleetHold,
	}
	if !reflect.DeepEqual(cfg.Fleet, want) {
		t.Errorf("fleet\nhave %+v\nwant %+v", cfg.Fleet, want)
	}
	fe, db := cfg.Groups[0], cfg.Groups[1]
	if !fe.Fleet || fe.FleetMaxUnavailable != 10 || !fe.FleetPercent || fe.MaxUnavailable != 2 {
		t.Errorf("frontends %+v", fe)
	}
	if db.Fleet {
		t.Errorf("store %+v is not a fleet group", db)
	}
	// 10% of 45 registered members is 4; of 5, still 1.
	if n := fe.FleetBudget(45); n != 4 {
		t.Errorf("FleetBudget(45) = %d, want 4", n)
	}
	if n := fe.FleetBudget(5); n != 1 {
		t.Errorf("FleetBudget(5) = %d, want 1", n)
	}
}

// Without [fleet] there is no FleetSpec; with one, the defaults.
func TestFleetDefaults(t *testing.T) {
	cfg, err := Parse("r.toml", []byte(fleetChildren))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Fleet != nil {
		t.Errorf("no [fleet] table, yet Fleet = %+v", cfg.Fleet)
	}
	cfg, err = Parse("r.toml", []byte("[fleet]\nendpoints = [\"127.0.0.1:2379\"]\n"+fleetChildren+
		"[[group]]\nname = \"g\"\nmembers = [\"fe\"]\nfleet = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	f := cfg.Fleet
	if f.Prefix != DefaultFleetPrefix || f.Host != host || f.LeaseTTL != 10*time.Second || f.Unreachable != FleetLocal || f.Agent != "" {
		t.Errorf("defaults %+v", f)
	}
	if g := cfg.Groups[0]; g.FleetMaxUnavailable != 1 || g.FleetPercent || g.FleetBudget(100) != 1 {
		t.Errorf("fleet_max_unavailable default: %+v", g)
	}
}

// Each problem of [fleet] and of the fleet keys of a [[group]] is named
// with its line.
func TestFleetProblems(t *testing.T) {
	group := func(extra string) string {
		return fleetChildren + "[[group]]\nname = \"g\"\nmembers = [\"fe\"]\n" + extra + "\n"
	}
	fleet := func(lines string) string { return "[fleet]\n" + lines + "\n" }
	ok := fleet(`endpoints = ["127.0.0.1:2379"]`)
	for _, tc := range []struct {
		src, want string
	}{
		{group("fleet = true"), "r.toml:13: group[0].fleet: a fleet group needs a [fleet] table"},
		{group("fleet_max_unavailable = 2"), "r.toml:13: group[0].fleet_max_unavailable: only a fleet group (fleet = true) has a fleet budget"},
		{ok + group("fleet = true\nfleet_max_unavailable = 0"), "r.toml:16: group[0].fleet_max_unavailable: must be a count from 1 to 1000"},
		{ok + group("fleet = true\nfleet_max_unavailable = \"0%\""), "group[0].fleet_max_unavailable: must be a count, or a percentage from 1% to 100%"},
		{fleet(`lease_ttl = "2s"`), "r.toml:1: fleet.endpoints: no etcd endpoint"},
		{fleet(`endpoints = ["ftp://a:1"]`), `r.toml:2: fleet.endpoints: endpoint "ftp://a:1": the scheme must be http or https`},
		{fleet(`endpoints = ["https://etcd"]`), `want host:port`},
		{fleet(`endpoints = ["https://etcd:2379/v3"]`), `an etcd endpoint has no path`},
		{ok + `cert = "c.pem"`, "r.toml:3: fleet.cert: cert and key go together"},
		{ok + `user = "u"`, "r.toml:3: fleet.user: user and password go together"},
		{ok + `password = "${NO_SUCH_VARIABLE_HERE}"`, "fleet.password: ${NO_SUCH_VARIABLE_HERE} is not set"},
		{ok + `prefix = "resreap"`, `r.toml:3: fleet.prefix: must start and end with '/' (like "/resreap/"), not "resreap"`},
		{ok + `host = "a/b"`, `r.toml:3: fleet.host: host name "a/b" has '/'`},
		{ok + `host = ""`, `fleet.host: host missing or empty name`},
		{ok + `lease_ttl = "1s"`, "r.toml:3: fleet.lease_ttl: 1s is out of range: must be between 2s and 5m"},
		{ok + `lease_ttl = "6m"`, "out of range"},
		{ok + `lease_ttl = "2500ms"`, "fleet.lease_ttl: must be whole seconds"},
		{ok + `unreachable = "wait"`, `r.toml:3: fleet.unreachable: must be "local" or "hold", not "wait"`},
		{ok + `endpoint = ["x:1"]`, "r.toml:3: fleet.endpoint: unknown key"},
	} {
		src := tc.src
		if !strings.Contains(src, "[[child]]") {
			src += fleetChildren
		}
		_, err := Parse("r.toml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nhave %v\nwant %q", tc.src, err, tc.want)
		}
	}
	for _, good := range []string{`lease_ttl = "2s"`, `lease_ttl = "5m"`, `unreachable = "local"`, `prefix = "/a/b/"`} {
		if _, err := Parse("r.toml", []byte(ok+good+"\n"+fleetChildren)); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
}

func TestGroupDiff(t *testing.T) {
	base := GroupSpec{Name: "g", Members: []string{"a", "b"}, MaxUnavailable: 1, Fleet: true, FleetMaxUnavailable: 2}
	for _, tc := range []struct {
		name   string
		change func(*GroupSpec)
		keys   []string
	}{
		{"nothing", func(*GroupSpec) {}, nil},
		{"members", func(g *GroupSpec) { g.Members = []string{"a"} }, []string{"members"}},
		{"percent", func(g *GroupSpec) { g.Percent = true }, []string{"max_unavailable"}},
		{"fleet", func(g *GroupSpec) { g.Fleet = false }, []string{"fleet"}},
		{"fleet budget", func(g *GroupSpec) { g.FleetPercent = true }, []string{"fleet_max_unavailable"}},
		{"max_surge", func(g *GroupSpec) { g.MaxSurge = 3 }, []string{"max_surge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			b.Members = slices.Clone(base.Members)
			tc.change(&b)
			if keys := base.Diff(b); !slices.Equal(keys, tc.keys) {
				t.Errorf("Diff = %v, want %v", keys, tc.keys)
			}
		})
	}
	// Every field but Name is compared: a new field must be added to
	// Diff (and to this count).
	if n := reflect.TypeFor[GroupSpec]().NumField(); n != 8 {
		t.Errorf("GroupSpec has %d fields: add the new ones to Diff", n)
	}
}
