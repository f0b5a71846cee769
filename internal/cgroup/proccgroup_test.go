//go:build linux

package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseProcCgroup(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    string
		wantErr error
	}{
		{file: "hybrid.txt", want: "/"},
		{file: "systemd-hybrid.txt", want: "/system.slice/resreap.service"},
		{file: "pure-v2.txt", want: "/user.slice/user-1000.slice/session-2.scope"},
		{file: "spaces-colons.txt", want: "/odd name:with colons"},
		{file: "deleted.txt", want: "/resreap/child-fe (deleted)"},
		{file: "v1-only.txt", wantErr: ErrNoHierarchy},
		{file: "empty.txt", wantErr: ErrNoHierarchy},
		{file: "malformed.txt"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			have, err := readProcCgroup(filepath.Join("testdata", "proc-cgroup", tc.file))
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case tc.want == "" && tc.wantErr == nil && err == nil:
				t.Fatalf("have %q, want an error", have)
			case tc.want != "" && err != nil:
				t.Fatal(err)
			case have != tc.want:
				t.Errorf("have %q, want %q", have, tc.want)
			}
		})
	}
}

func TestProcCgroupSelf(t *testing.T) {
	needHierarchy(t)
	self, err := ProcCgroup(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if again, err := selfCgroup(); err != nil || again != self {
		t.Errorf("selfCgroup() = %q, %v; ProcCgroup(getpid) = %q", again, err, self)
	}
}
