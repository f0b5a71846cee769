//go:build linux

package config

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// FleetSpec is the [fleet] table: the etcd cluster through which the
// resreaps of a fleet (the same service on many hosts) share the restart
// budget of their fleet groups, see each other's members and take rolling
// restart orders. Without the table nothing of it runs.
type FleetSpec struct {
	// Endpoints are the etcd client URLs ("https://10.0.0.1:2379"); a
	// bare host:port is plain http.
	Endpoints []string
	// CA, Cert and Key are PEM files for TLS: the CA that signed the
	// servers' certificates (empty: the system's roots), and resreap's
	// client certificate and key (both or neither). User and Password
	// authenticate with etcd's own auth (both or neither).
	CA, Cert, Key  string
	User, Password string
	// Prefix is where the fleet's keys live ("/resreap/", the default):
	// two fleets may share a cluster under two prefixes.
	Prefix string
	// Host names this resreap in the fleet; default the host name.
	Host string
	// LeaseTTL is how long etcd keeps this resreap's members and slots
	// after it stops hearing from it: a resreap that dies (or loses the
	// cluster) frees its slots within it.
	LeaseTTL time.Duration
	// Unreachable says what a health restart of a fleet member does while
	// etcd cannot be reached: FleetLocal (the local budget alone decides)
	// or FleetHold (it waits).
	Unreachable string
	// Agent is the resreap-fleet program that talks to etcd for resreap
	// (see supervisor/fleet.go); empty: resreap-fleet beside the resreap
	// binary, else in PATH.
	Agent string
}

// Values of FleetSpec.Unreachable.
const (
	FleetLocal = "local"
	FleetHold  = "hold"
)

// DefaultFleetPrefix is the key prefix of [fleet] when prefix is unset.
const DefaultFleetPrefix = "/resreap/"

// fileFleet mirrors the [fleet] table.
type fileFleet struct {
	Endpoints   []string `toml:"endpoints"`
	CA          *string  `toml:"ca"`
	Cert        *string  `toml:"cert"`
	Key         *string  `toml:"key"`
	User        *string  `toml:"user"`
	Password    *string  `toml:"password"`
	Prefix      *string  `toml:"prefix"`
	Host        *string  `toml:"host"`
	LeaseTTL    *string  `toml:"lease_ttl"`
	Unreachable *string  `toml:"unreachable"`
	Agent       *string  `toml:"agent"`
}

// fleet validates the [fleet] table; nil when the file has none.
func (v *validator) fleet(f *fileFleet) *FleetSpec {
	if f == nil {
		return nil
	}
	fs := &FleetSpec{
		Prefix: strOr(f.Prefix, DefaultFleetPrefix), LeaseTTL: defaultLeaseTTL,
		Unreachable: strOr(f.Unreachable, FleetLocal),
	}
	if len(f.Endpoints) == 0 {
		v.add("fleet.endpoints", "no etcd endpoint (e.g. [\"https://10.0.0.1:2379\"])")
	}
	for _, e := range f.Endpoints {
		e = v.expand("fleet.endpoints", e)
		if msg := endpointProblem(e); msg != "" {
			v.add("fleet.endpoints", "%s", msg)
		}
		fs.Endpoints = append(fs.Endpoints, e)
	}
	for _, p := range []struct {
		key string
		src *string
		dst *string
	}{{"ca", f.CA, &fs.CA}, {"cert", f.Cert, &fs.Cert}, {"key", f.Key, &fs.Key}, {"agent", f.Agent, &fs.Agent}} {
		if p.src != nil {
			*p.dst = relTo(v.base, v.expand("fleet."+p.key, *p.src))
		}
	}
	if (fs.Cert == "") != (fs.Key == "") {
		v.add("fleet.cert", "cert and key go together: set both or neither")
	}
	fs.User = v.expand("fleet.user", strOr(f.User, ""))
	fs.Password = v.expand("fleet.password", strOr(f.Password, ""))
	if (fs.User == "") != (fs.Password == "") {
		v.add("fleet.user", "user and password go together: set both or neither")
	}
	if !strings.HasPrefix(fs.Prefix, "/") || !strings.HasSuffix(fs.Prefix, "/") || strings.ContainsRune(fs.Prefix, 0) {
		v.add("fleet.prefix", "must start and end with '/' (like %q), not %q", DefaultFleetPrefix, fs.Prefix)
	}
	if f.Host != nil {
		fs.Host = v.expand("fleet.host", *f.Host)
	} else if h, err := os.Hostname(); err == nil {
		fs.Host = h
	}
	if msg := nameProblem(fs.Host); msg != "" {
		v.add("fleet.host", "host %s", msg)
	}
	if v.duration("fleet.lease_ttl", f.LeaseTTL, &fs.LeaseTTL, rangeLeaseTTL) && fs.LeaseTTL%time.Second != 0 {
		v.add("fleet.lease_ttl", "must be whole seconds (etcd's leases count seconds), not %s", fs.LeaseTTL)
	}
	switch fs.Unreachable {
	case FleetLocal, FleetHold:
	default:
		v.add("fleet.unreachable", "must be %q or %q, not %q", FleetLocal, FleetHold, fs.Unreachable)
	}
	return fs
}

// endpointProblem says what is wrong with an etcd endpoint, or "".
func endpointProblem(e string) string {
	if !strings.Contains(e, "://") {
		e = "http://" + e
	}
	u, err := url.Parse(e)
	switch {
	case err != nil:
		return "bad endpoint: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return "endpoint " + strconv.Quote(e) + ": the scheme must be http or https"
	case u.Hostname() == "" || u.Port() == "":
		return "endpoint " + strconv.Quote(e) + ": want host:port, as in https://10.0.0.1:2379"
	case u.Path != "" && u.Path != "/":
		return "endpoint " + strconv.Quote(e) + ": an etcd endpoint has no path"
	}
	return ""
}

// fleetGroups reads fleet and fleet_max_unavailable of each [[group]]:
// fleet = true needs a [fleet] table, and fleet_max_unavailable a fleet
// group.
func (v *validator) fleetGroups(fgs []fileGroup, cfg *Config) {
	for i, fg := range fgs {
		if i >= len(cfg.Groups) {
			return
		}
		key := "group." + strconv.Itoa(i)
		g := &cfg.Groups[i]
		g.Fleet = fg.Fleet != nil && *fg.Fleet
		g.FleetMaxUnavailable, g.FleetPercent = v.maxUnavailable(key+".fleet_max_unavailable", fg.FleetMaxUnavailable)
		switch {
		case g.Fleet && cfg.Fleet == nil:
			v.add(key+".fleet", "a fleet group needs a [fleet] table (the etcd cluster the fleet shares)")
		case !g.Fleet && fg.FleetMaxUnavailable != nil:
			v.add(key+".fleet_max_unavailable", "only a fleet group (fleet = true) has a fleet budget")
		}
	}
}
