//go:build linux

package harness

// Tool is one command whose scan cost is measured.
type Tool struct {
	Name string   // as shown in the table and the chart
	Argv []string // argv[0] is looked up in PATH unless it contains a slash

	// Floor marks the reference that ratios are computed against. Exactly
	// one tool of a set should have it.
	Floor bool

	// OKExit lists the exit statuses that count as a successful scan; empty
	// means 0 only.
	OKExit []int

	// Probe, when set, is run once before the tool is measured; if it fails
	// the tool is reported as unavailable with its message. It tells "the
	// scan found something" (an accepted non-zero exit) from "the command
	// does not work here".
	Probe []string

	// Reference tools are measured and tabled but left out of the chart:
	// they are calibration points, not alternatives.
	Reference bool

	// Count, for resreap's own commands, is the same command logging at
	// debug level in JSON: one run of it, apart from the measured ones,
	// gives the fd tables and readlinks of its owner walks (CountWalk).
	Count []string
}

// DefaultTools is the comparison of issue 5: resreap's two socket readers,
// the kernel's filtered dump (the floor), the same with owner PIDs, the old
// watchdog's netstat poll and a plain read of the procfs tables. resreap is
// the path of the resreap binary.
//
// `resreap watch --once` takes two snapshots `-i` seconds apart and exits 1
// when it would act on some process, which the CLOSE_WAIT sockets held by
// the load generator make it do; both statuses are a completed scan. It is a
// check: it never signals.
func DefaultTools(resreap string) []Tool {
	watch := func(reader string) []string {
		return []string{resreap, "watch", "--once", "-d", "-i", "0.05", "--reader", reader}
	}
	count := func(reader string) []string { return append(watch(reader), "--json", "-D") }
	watchHelp := []string{resreap, "watch", "--help"}
	return []Tool{
		{Name: "ss -tn state close-wait", Argv: []string{"ss", "-tn", "state", "close-wait"}, Floor: true},
		{Name: "resreap watch --once --reader netlink", Argv: watch("netlink"), Count: count("netlink"), OKExit: []int{0, 1}, Probe: watchHelp},
		{Name: "resreap watch --once --reader proc", Argv: watch("proc"), Count: count("proc"), OKExit: []int{0, 1}, Probe: watchHelp},
		{Name: "ss -tnp state close-wait", Argv: []string{"ss", "-tnp", "state", "close-wait"}},
		{Name: "netstat -ntp", Argv: []string{"netstat", "-ntp"}},
		{Name: "cat /proc/net/tcp /proc/net/tcp6", Argv: []string{"cat", "/proc/net/tcp", "/proc/net/tcp6"}},
		{Name: "resreap version", Argv: []string{resreap, "version"}, Reference: true},
	}
}
