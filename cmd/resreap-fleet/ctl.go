//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/fleet"
	"github.com/resreap/resreap/internal/fleet/link"
	"github.com/resreap/resreap/internal/textsafe"
)

// ctlTimeout bounds a command: etcd answers in milliseconds when it is
// reachable at all.
const ctlTimeout = 15 * time.Second

// runCtl runs status, restart or cancel against the etcd of the config's
// [fleet], directly: it works from any host with the config, whether or
// not resreap runs there, and an order written lives in etcd, not in one
// resreap. Exit status: 0 done, 1 etcd or the order refused, 2 usage or
// config error.
func runCtl(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.StringP("config", "c", "/etc/resreap/resreap.toml", "config `FILE` whose [fleet] names the etcd cluster")
	asJSON := fs.Bool("json", false, "print JSON")
	var maxUnavail *int
	var reason *string
	if cmd == "restart" {
		maxUnavail = fs.Int("max-unavailable", 0, "members restarted at once fleet-wide (default: the group's fleet_max_unavailable)")
		reason = fs.String("reason", "", "why, shown in status and in every history record of the order")
	}
	usageLine := fmt.Sprintf("resreap fleet %s [-c FILE] GROUP [--json]", cmd)
	if cmd == "restart" {
		usageLine = "resreap fleet restart [-c FILE] GROUP [--max-unavailable N] [--reason TEXT] [--json]"
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "usage: %s\n\nflags:\n%s", usageLine, fs.FlagUsages())
			return 0
		}
		fmt.Fprintf(stderr, "resreap fleet %s: %v\nusage: %s\n", cmd, err, usageLine)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "usage: %s\n", usageLine)
		return 2
	}
	group := fs.Arg(0)
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	g := fleetGroup(cfg, group)
	if cfg.Fleet == nil || g == nil {
		fmt.Fprintf(stderr, "resreap fleet: %s has no fleet group %q (a [[group]] with fleet = true, and a [fleet] table)\n", *path, group)
		return 2
	}
	f, err := fleet.Dial(settings(cfg.Fleet), zerolog.Nop())
	if err != nil {
		fmt.Fprintln(stderr, "resreap fleet:", err)
		return 1
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	switch cmd {
	case "restart":
		err = restart(ctx, f, g, *maxUnavail, *reason, stdout, *asJSON)
	case "cancel":
		var o *link.Order
		if o, err = f.CancelOrder(ctx, group); err == nil {
			err = printResult(stdout, *asJSON, map[string]any{"cancelled": o}, fmt.Sprintf("order %s of group %s cancelled; restarts under way finish\n", o.ID, group))
		}
	default:
		var st fleet.Status
		if st, err = f.Status(ctx, group); err == nil {
			err = printStatus(stdout, st, *asJSON)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "resreap fleet:", textsafe.Escape(err.Error()))
		return 1
	}
	return 0
}

func fleetGroup(cfg *config.Config, name string) *config.GroupSpec {
	for i := range cfg.Groups {
		if cfg.Groups[i].Name == name && cfg.Groups[i].Fleet {
			return &cfg.Groups[i]
		}
	}
	return nil
}

// settings is the [fleet] table for the fleet package.
func settings(sp *config.FleetSpec) link.Settings {
	return link.Settings{Endpoints: sp.Endpoints, CA: sp.CA, Cert: sp.Cert, Key: sp.Key, User: sp.User, Password: sp.Password,
		Prefix: sp.Prefix, Host: sp.Host, LeaseTTL: sp.LeaseTTL}
}

// restart writes a rolling restart order for group g.
func restart(ctx context.Context, f *fleet.Fleet, g *config.GroupSpec, n int, reason string, stdout io.Writer, asJSON bool) error {
	if n <= 0 {
		n = g.FleetMaxUnavailable
		if g.FleetPercent {
			ms, err := f.Members(ctx, g.Name)
			if err != nil {
				return err
			}
			n = g.FleetBudget(len(ms))
		}
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	o := link.Order{ID: time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:]),
		MaxUnavailable: n, Reason: reason, Created: time.Now().UTC(), By: who()}
	if err := f.PutOrder(ctx, g.Name, o); err != nil {
		return err
	}
	return printResult(stdout, asJSON, map[string]any{"order": o},
		fmt.Sprintf("order %s: every member of group %s restarts once, at most %d at a time fleet-wide\n", o.ID, g.Name, n))
}

// who is user@host, for the order.
func who() string {
	name := "?"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	h, _ := os.Hostname()
	return name + "@" + h
}

func printResult(w io.Writer, asJSON bool, v any, text string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return writeLines(w, text)
}

// writeLines writes text with each line escaped for a terminal: names
// and reasons come from etcd, which any host of the fleet writes.
func writeLines(w io.Writer, text string) error {
	lines := strings.SplitAfter(text, "\n")
	for _, l := range lines {
		body, nl := strings.CutSuffix(l, "\n")
		out := textsafe.Escape(body)
		if nl {
			out += "\n"
		}
		if _, err := io.WriteString(w, out); err != nil {
			return err
		}
	}
	return nil
}

// statusJSON is status --json.
type statusJSON struct {
	fleet.Status
	Finished bool   `json:"finished,omitempty"`
	Summary  string `json:"summary,omitempty"`
}

func printStatus(w io.Writer, st fleet.Status, asJSON bool) error {
	if asJSON {
		out := statusJSON{Status: st}
		if st.Order != nil {
			out.Finished, out.Summary = st.Finished(), st.Summary()
		}
		if out.Members == nil {
			out.Members = []link.Member{}
		}
		if out.Holders == nil {
			out.Holders = []link.Holder{}
		}
		return printResult(w, true, out, "")
	}
	var b strings.Builder
	hosts := map[string]bool{}
	for _, m := range st.Members {
		hosts[m.Host] = true
	}
	fmt.Fprintf(&b, "group %s: %d members on %d hosts\n", st.Group, len(st.Members), len(hosts))
	if len(st.Holders) == 0 {
		b.WriteString("slots: none held\n")
	}
	for _, h := range st.Holders {
		fmt.Fprintf(&b, "slot %d: %s (%s)\n", h.Slot, h, h.Why)
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tCHILD\tSTATE\tPID\tREADY\tSINCE\tLAST REASON")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%s\t%s\n", m.Host, m.Child, m.State, m.PID, m.Ready, m.Since.Local().Format("15:04:05"), m.Reason)
	}
	tw.Flush()
	if o := st.Order; o != nil {
		state := "in progress"
		if st.Finished() {
			state = "finished"
		}
		fmt.Fprintf(&b, "order %s (%s): max_unavailable %d, by %s at %s", o.ID, state, o.MaxUnavailable, o.By, o.Created.Local().Format("2006-01-02 15:04:05"))
		if o.Reason != "" {
			fmt.Fprintf(&b, ", reason %q", o.Reason)
		}
		fmt.Fprintf(&b, ": %s\n", st.Summary())
		for _, host := range slices.Sorted(maps.Keys(st.Progress)) {
			p := st.Progress[host]
			fmt.Fprintf(&b, "  %s: done [%s] in progress [%s] waiting [%s] failed [%s]\n", host,
				strings.Join(p.Done, " "), strings.Join(p.Restarting, " "), strings.Join(p.Waiting, " "), strings.Join(p.Failed, " "))
		}
	}
	return writeLines(w, b.String())
}
