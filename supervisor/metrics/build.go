//go:build linux

package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo is what resreap_build_info says of the running binary, as
// Prometheus's own prometheus_build_info does: a gauge of 1 whose labels
// carry the version, so that a dashboard or an alert can tell which
// resreap runs where.
type BuildInfo struct {
	Version   string // as the binary was built with (-X main.version); "" is "unknown"
	Revision  string // the VCS commit, with "-dirty" for a modified tree; "" is "unknown"
	GoVersion string // the Go release that built it
}

// ReadBuildInfo returns the BuildInfo of this binary, built as version:
// the revision from the build's VCS stamp, the Go version of the runtime.
func ReadBuildInfo(version string) BuildInfo {
	b := BuildInfo{Version: version, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && b.Revision != "" {
			b.Revision += "-dirty"
		}
	}
	return b
}

// collector is resreap_build_info for b.
func (b BuildInfo) collector() prometheus.Collector {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "resreap_build_info",
		Help: "1, with the version, revision and Go version resreap was built with as labels.",
		ConstLabels: prometheus.Labels{
			"version": unknown(b.Version), "revision": unknown(b.Revision), "goversion": unknown(b.GoVersion),
		},
	})
	g.Set(1)
	return g
}
