//go:build linux

package cgroup

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		file      string
		wantPoint string
		wantRoot  string
		wantErr   error
	}{
		{file: "hybrid.txt", wantPoint: "/sys/fs/cgroup/unified", wantRoot: "/"},
		{file: "systemd-hybrid.txt", wantPoint: "/sys/fs/cgroup/unified", wantRoot: "/"},
		{file: "pure-v2.txt", wantPoint: "/sys/fs/cgroup", wantRoot: "/"},
		{file: "escaped.txt", wantPoint: "/mnt/my cgroup\troot\\x", wantRoot: "/sub dir"},
		{file: "two-cgroup2.txt", wantPoint: "/sys/fs/cgroup", wantRoot: "/"},
		{file: "container-root.txt", wantPoint: "/sys/fs/cgroup", wantRoot: "/docker/3f4e2a"},
		// A v1 mount whose source or mount point says "cgroup2" is no cgroup2 mount.
		{file: "v1-only.txt", wantErr: ErrNoHierarchy},
		{file: "empty.txt", wantErr: ErrNoHierarchy},
	} {
		t.Run(tc.file, func(t *testing.T) {
			have, err := readMount(filepath.Join("testdata", "mountinfo", tc.file))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if have.point != tc.wantPoint || have.root != tc.wantRoot {
				t.Errorf("have point %q root %q, want %q %q", have.point, have.root, tc.wantPoint, tc.wantRoot)
			}
		})
	}
}

func TestUnescapeOctal(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`/plain`, `/plain`},
		{`/a\040b`, `/a b`},
		{`\011\012\134`, "\t\n\\"},
		{`/trailing\04`, `/trailing\04`}, // too short: kept
		{`/not\08x`, `/not\08x`},         // not octal: kept
	} {
		if have := unescapeOctal(tc.in); have != tc.want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", tc.in, have, tc.want)
		}
	}
}
