//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/textsafe"
)

const probeUsage = "resreap probe [-c CONFIG] [--timeout D] PATH|URL"

const probeExamples = `  resreap probe /healthz          GET /healthz on the config's metrics_listen
  resreap probe /readyz -c /etc/resreap/resreap.toml
  resreap probe http://10.0.0.7:9321/healthz
exit status: 0 the answer is 2xx, 1 any other answer or none, 2 usage or
config error. The Dockerfile's HEALTHCHECK runs it: the image has no curl,
and resreap knows its own address.
`

// probeFlagValues are the flags of "resreap probe".
type probeFlagValues struct {
	config  string
	timeout time.Duration
}

func probeFlags() (*pflag.FlagSet, *probeFlagValues) {
	var v probeFlagValues
	fs := newFlagSet("probe")
	configFlag(fs, &v.config, "a PATH is asked of the metrics_listen of the config")
	fs.DurationVar(&v.timeout, "timeout", 5*time.Second, "give up after this long")
	return fs, &v
}

// runProbe asks resreap's own /healthz or /readyz (or any URL) and
// exits 0 for a 2xx answer: a health check for places without curl.
func runProbe(args []string, stdout, stderr io.Writer) int {
	fs, v := probeFlags()
	if exit, ok := parseArgs(fs, args, probeUsage, probeExamples, stdout, stderr); !ok {
		return exit
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "usage: %s\n", probeUsage)
		return 2
	}
	url := fs.Arg(0)
	if strings.HasPrefix(url, "/") {
		file := pickConfig(v.config)
		sc, err := config.LoadSupervisor(file.path)
		if err != nil {
			fmt.Fprintf(stderr, "resreap probe: %s\n", file.describe(err))
			return 2
		}
		if sc.MetricsListen == "" {
			fmt.Fprintf(stderr, "resreap probe: %s sets no metrics_listen to ask\n", file)
			return 2
		}
		url = "http://" + localAddr(sc.MetricsListen) + url
	}
	ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "resreap probe: %v\n", err)
		return 2
	}
	client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "resreap probe: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(stdout, "%s %s: %s\n", url, resp.Status, textsafe.Escape(strings.TrimSpace(string(body))))
	if resp.StatusCode/100 != 2 {
		return 1
	}
	return 0
}

// localAddr is where to reach a listen address from this host: a
// wildcard host (0.0.0.0, [::], none) is the loopback.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
