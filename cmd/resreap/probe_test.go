//go:build linux

package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok\n"))
		case "/readyz":
			http.Error(w, "not ready: backend", http.StatusServiceUnavailable)
		default:
			http.Redirect(w, r, "/healthz", http.StatusFound)
		}
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "resreap.toml")
	os.WriteFile(cfg, []byte("[supervisor]\nmetrics_listen = \""+strings.TrimPrefix(srv.URL, "http://")+"\"\n"), 0o640)
	noMetrics := filepath.Join(t.TempDir(), "resreap.toml")
	os.WriteFile(noMetrics, []byte("[supervisor]\n"), 0o640)

	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"-c", cfg, "/healthz"}, 0, "/healthz 200 OK: ok", ""},
		{[]string{"-c", cfg, "/readyz"}, 1, "503 Service Unavailable: not ready: backend", ""},
		{[]string{srv.URL + "/healthz"}, 0, "200 OK", ""},
		{[]string{srv.URL + "/elsewhere"}, 1, "302 Found", ""}, // a redirect is not followed
		{[]string{"-c", noMetrics, "/healthz"}, 2, "", "sets no metrics_listen"},
		{[]string{"http://127.0.0.1:1/healthz"}, 1, "", "connection refused"},
		{[]string{}, 2, "", "usage: resreap probe"},
	} {
		var stdout, stderr bytes.Buffer
		code := dispatch(append([]string{"probe"}, tc.args...), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("probe %v: exit %d, stdout %q, stderr %q; want %d, %q, %q",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}

func TestLocalAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:9321":   "127.0.0.1:9321",
		":9321":          "127.0.0.1:9321",
		"[::]:9321":      "[::1]:9321",
		"10.0.0.7:9321":  "10.0.0.7:9321",
		"127.0.0.1:9321": "127.0.0.1:9321",
	} {
		if have := localAddr(in); have != want {
			t.Errorf("localAddr(%s) = %s, want %s", in, have, want)
		}
	}
}
