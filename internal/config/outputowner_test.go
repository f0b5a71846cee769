//go:build linux

package config

import (
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The owner and group of output files must exist on this host; each
// problem names the key and its line.
func TestCheckHostOutputOwners(t *testing.T) {
	dir := hostFiles(t)
	src := `[[child]]
name = "a"
command = ["/bin/sh"]
stdout = { file = "a.out", owner = "no-such-user-resreap" }
stderr = { file = "a.err", group = "no-such-group-resreap" }

[[child]]
name = "b"
command = ["/bin/sh"]
stdout = { file = "b.out", owner = "root", group = "0" }
stderr = "null"
`
	cfg := parseT(t, dir, src)
	have := problems(Host{}.Check(cfg), dir)
	want := []string{
		`x.toml:4: child[a].stdout.owner: no such user "no-such-user-resreap"`,
		`x.toml:5: child[a].stderr.group: no such group "no-such-group-resreap"`,
	}
	if !slices.Equal(have, want) {
		t.Errorf("have\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
}

// FileOwner: the configured owner and group, else the child's user and
// that user's primary group, else root.
func TestFileOwner(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	nuid, _ := strconv.Atoi(nobody.Uid)
	ngid, _ := strconv.Atoi(nobody.Gid)
	for _, tc := range []struct {
		name      string
		o         OutputSpec
		childUser string
		uid, gid  int
		err       string
	}{
		{"root child", OutputSpec{}, "", 0, 0, ""},
		{"the child's user", OutputSpec{}, "nobody", nuid, ngid, ""},
		{"the child's user by number", OutputSpec{}, nobody.Uid, nuid, ngid, ""},
		{"an owner", OutputSpec{Owner: "nobody"}, "root", nuid, ngid, ""},
		{"a group", OutputSpec{Group: "0"}, "nobody", nuid, 0, ""},
		{"owner and group", OutputSpec{Owner: "0", Group: nobody.Gid}, "nobody", 0, ngid, ""},
		{"an unknown owner", OutputSpec{Owner: "no-such-user-resreap"}, "", 0, 0, `no such user "no-such-user-resreap"`},
		{"an unknown group", OutputSpec{Group: "no-such-group-resreap"}, "", 0, 0, `no such group "no-such-group-resreap"`},
	} {
		uid, gid, err := tc.o.FileOwner(tc.childUser)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || uid != tc.uid || gid != tc.gid {
			t.Errorf("%s: %d:%d %v, want %d:%d", tc.name, uid, gid, err, tc.uid, tc.gid)
		}
	}
}
