//go:build linux

// Package metrics exports a running supervisor to Prometheus, and serves
// it with the health endpoints a load balancer or Kubernetes probes:
//
//	/metrics   the children, the scanner and the history (client_golang)
//	/healthz   200 while resreap's own loop runs
//	/readyz    200 while every child marked required is running and ready
//
// Child figures are read from the supervisor at each scrape, never kept
// here; the scanner's come from Scans, which the supervisor feeds.
package metrics

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/supervisor"
)

// Source is what the metrics read: a *supervisor.Supervisor.
type Source interface {
	Status() []supervisor.ChildStatus
	Info() supervisor.Info
	NotReady() []string
	Alive() error
}

// NewRegistry returns a registry with the supervisor's collector, scans
// (nil: none), resreap_build_info for build, and the Go and process
// collectors.
func NewRegistry(src Source, scans *Scans, build BuildInfo) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newCollector(src),
		build.collector(),
		newSourceCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if scans != nil {
		reg.MustRegister(scans)
	}
	if fs, ok := src.(FleetSource); ok {
		if _, on := fs.FleetStats(); on {
			reg.MustRegister(newFleetCollector(fs))
		}
	}
	return reg
}

// states are the values of resreap_child_state's state label.
var states = []supervisor.State{
	supervisor.Stopped, supervisor.Starting, supervisor.Running, supervisor.Backoff,
	supervisor.Stopping, supervisor.Exited, supervisor.Fatal,
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("resreap_"+name, help, append([]string{"child"}, labels...), nil)
}

// collector reads the children's figures from the supervisor at each
// scrape.
type collector struct {
	src Source

	up, state, restarts, closeWait, closeWaitPersistent, fdsOpen, fdsLimit,
	startTime, lastExit, cpu, memory, tasks *prometheus.Desc
	historyFailed, historyDropped, historyPending, outputLost, ready, stopHelperErrors *prometheus.Desc
	reloadOK, reloadSuccess                                                            *prometheus.Desc
}

func newCollector(src Source) *collector {
	return &collector{
		src:                 src,
		up:                  desc("child_up", "1 when the child is as it should be: running and ready (its ready probe passes), or exited cleanly where its restart policy says so; 0 when stopped by an operator, as resreap status counts it."),
		state:               desc("child_state", "1 for the child's current state, 0 for the others.", "state"),
		restarts:            desc("child_restarts_total", "Starts of the child after its first, by the reason the process before ended; every reason from 0 while the child is configured, counting on from the history after resreap restarts.", "reason"),
		closeWait:           desc("child_close_wait_sockets", "CLOSE_WAIT sockets the child's processes hold, at the last scan."),
		closeWaitPersistent: desc("child_close_wait_persistent_sockets", "CLOSE_WAIT sockets that stayed across the child's scans for its persist time, at the last scan."),
		fdsOpen:             desc("child_fds_open", "Open fds of the child's process closest to its limit, at the last scan."),
		fdsLimit:            desc("child_fds_limit", "Soft RLIMIT_NOFILE of that process; absent when unlimited or unknown."),
		startTime:           desc("child_start_time_seconds", "Start time of the child's live process, in seconds since the epoch."),
		lastExit:            desc("child_last_exit_code", "Exit code of the child's last process, as a shell reports it (128 + signal when killed)."),
		cpu:                 desc("child_cpu_seconds_total", "CPU time of the live process's cgroup (its whole tree); resets when the child restarts."),
		memory:              desc("child_memory_bytes", "memory.current of the live process's cgroup; absent where the memory controller is not in the cgroup2 hierarchy (a hybrid host binds it to cgroup v1: resreap status says so)."),
		tasks:               desc("child_tasks", "Tasks (processes and threads) in the live process's cgroup: pids.current, or its cgroup.threads where the pids controller is not enabled."),
		historyFailed: prometheus.NewDesc("resreap_history_write_errors_total",
			"Writes to the restart history that failed; their events stay queued and are retried.", nil, nil),
		historyDropped: prometheus.NewDesc("resreap_history_dropped_total",
			"Events that will never be in the history: the queue was full, shutdown could not wait for them, or they cannot be encoded.", nil, nil),
		historyPending: prometheus.NewDesc("resreap_history_pending_events",
			"Events waiting for the history: being written, or kept in order for a retry after a failed write.", nil, nil),
		outputLost: prometheus.NewDesc("resreap_output_lost_lines_total",
			"Lines of child output dropped: resreap's stdout or stderr not read, or an output file that could not take them.", nil, nil),
		ready: prometheus.NewDesc("resreap_ready",
			"1 when every child marked required is running and ready (as /readyz).", nil, nil),
		stopHelperErrors: prometheus.NewDesc("resreap_stop_helper_errors_total",
			"Stops (and kills of what an exited child left) that went on without a helper because it failed: the cgroup freezer, the inotify watch on cgroup.events, reading cgroup.events or cgroup.procs, a signal to one process, cgroup.kill.",
			[]string{"helper"}, nil),
		reloadOK: prometheus.NewDesc("resreap_config_last_reload_successful",
			"1 when the last reload of the configuration (SIGHUP, resreap reload) was applied, 0 when it was rejected (its problems are in the history and the log).", nil, nil),
		reloadSuccess: prometheus.NewDesc("resreap_config_last_reload_success_timestamp_seconds",
			"When the configuration was last loaded and applied: at start, or by a reload, in seconds since the epoch.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.state, c.restarts, c.closeWait, c.closeWaitPersistent,
		c.fdsOpen, c.fdsLimit, c.startTime, c.lastExit, c.cpu, c.memory, c.tasks,
		c.historyFailed, c.historyDropped, c.historyPending, c.outputLost, c.ready, c.stopHelperErrors,
		c.reloadOK, c.reloadSuccess} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, st := range c.src.Status() {
		name := st.Name
		gauge(c.up, boolValue(st.Up()), name)
		for _, s := range states {
			gauge(c.state, boolValue(st.State == s), name, strings.ToLower(s.String()))
		}
		// Every reason from 0, so that increase() sees the first restart
		// of each: a series that appears at 1 reads as no increase.
		for _, reason := range history.RestartReasons() {
			counter(c.restarts, float64(st.RestartsBy[reason]), name, string(reason))
		}
		for reason, n := range st.RestartsBy {
			if !slices.Contains(history.RestartReasons(), reason) {
				counter(c.restarts, float64(n), name, string(reason))
			}
		}
		if st.LastExitCode >= 0 {
			gauge(c.lastExit, float64(st.LastExitCode), name)
		}
		if st.PID == 0 {
			continue // the rest are figures of a live process
		}
		gauge(c.startTime, float64(st.Started.UnixNano())/1e9, name)
		if !st.HealthAt.IsZero() {
			if st.Health.CloseWaitNow >= 0 {
				gauge(c.closeWait, float64(st.Health.CloseWaitNow), name)
			}
			gauge(c.closeWaitPersistent, float64(st.Health.CloseWait), name)
			if st.Health.FDs.PID != 0 {
				gauge(c.fdsOpen, float64(st.Health.FDs.Open), name)
				if st.Health.FDs.Limit > 0 {
					gauge(c.fdsLimit, float64(st.Health.FDs.Limit), name)
				}
			}
		}
		if u := st.Usage; u != nil {
			counter(c.cpu, u.CPUUsage.Seconds(), name)
			if u.HasMemory {
				gauge(c.memory, float64(u.MemoryCurrent), name)
			}
			if u.HasPids {
				gauge(c.tasks, float64(u.PidsCurrent), name)
			}
		}
	}
	in := c.src.Info()
	ch <- prometheus.MustNewConstMetric(c.historyFailed, prometheus.CounterValue, float64(in.HistoryFailed))
	ch <- prometheus.MustNewConstMetric(c.historyDropped, prometheus.CounterValue, float64(in.HistoryDropped))
	ch <- prometheus.MustNewConstMetric(c.historyPending, prometheus.GaugeValue, float64(in.HistoryPending))
	ch <- prometheus.MustNewConstMetric(c.outputLost, prometheus.CounterValue, float64(in.OutputLost))
	for helper, n := range in.StopHelperErrors {
		ch <- prometheus.MustNewConstMetric(c.stopHelperErrors, prometheus.CounterValue, float64(n), helper)
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, boolValue(len(c.src.NotReady()) == 0))
	ch <- prometheus.MustNewConstMetric(c.reloadOK, prometheus.GaugeValue, boolValue(in.LastReloadOK))
	if !in.LastReloadSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.reloadSuccess, prometheus.GaugeValue, float64(in.LastReloadSuccess.UnixNano())/1e9)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Scans counts the health scanner's work. The supervisor calls Observe
// after each scan (see supervisor.Options.OnScan).
type Scans struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	fdTables prometheus.Counter
}

// NewScans returns the scan metrics, unregistered (NewRegistry registers
// them).
func NewScans() *Scans {
	s := &Scans{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "resreap_scan_duration_seconds",
			Help:    "Wall time of one health scan of every child in a network namespace, by socket reader.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. 4 s
		}, []string{"reader"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "resreap_scan_errors_total",
			Help: "Health scans that failed, by socket reader.",
		}, []string{"reader"}),
		fdTables: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "resreap_fd_tables_read_total",
			Help: "fd tables (/proc/PID/fd) read to find the owners of sockets and count fds.",
		}),
	}
	for _, r := range []string{health.ReaderBPF, health.ReaderNetlink, health.ReaderProc} { // zeros from the start, for rate()
		s.errors.WithLabelValues(r)
	}
	return s
}

// Observe records one scan.
func (s *Scans) Observe(r supervisor.ScanReport) {
	reader := r.Reader
	if reader == "" {
		reader = "unknown"
	}
	s.duration.WithLabelValues(reader).Observe(r.Took.Seconds())
	if r.Err != nil {
		s.errors.WithLabelValues(reader).Inc()
	}
	s.fdTables.Add(float64(r.FDTables))
}

func (s *Scans) Describe(ch chan<- *prometheus.Desc) {
	s.duration.Describe(ch)
	s.errors.Describe(ch)
	s.fdTables.Describe(ch)
}

func (s *Scans) Collect(ch chan<- prometheus.Metric) {
	s.duration.Collect(ch)
	s.errors.Collect(ch)
	s.fdTables.Collect(ch)
}
