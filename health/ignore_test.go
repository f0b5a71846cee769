//go:build linux

package health

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseIgnore(t *testing.T) {
	tests := []struct {
		entry   string
		match   []string
		noMatch []string
	}{
		{"127.0.0.1:8080", []string{"127.0.0.1:8080", "[::ffff:127.0.0.1]:8080"}, []string{"127.0.0.1:8081", "127.0.0.2:8080"}},
		{"[::1]:443", []string{"[::1]:443"}, []string{"[::1]:444", "127.0.0.1:443"}},
		{"10.0.0.0/8", []string{"10.1.2.3:1", "[::ffff:10.9.9.9]:5"}, []string{"11.0.0.1:1"}},
		{"10.0.0.0/8:5432", []string{"10.1.2.3:5432"}, []string{"10.1.2.3:5433", "11.1.1.1:5432"}},
		{"fd00::/8", []string{"[fd12::1]:9"}, []string{"[fe80::1]:9", "10.0.0.1:9"}},
		{"fd00::/8:53", []string{"[fd12::1]:53"}, []string{"[fd12::1]:54"}},
		{"[fd00::/8]:53", []string{"[fd12::1]:53"}, []string{"[fd12::1]:54"}},
		{":6379", []string{"1.2.3.4:6379", "[::1]:6379"}, []string{"1.2.3.4:6380"}},
		{"192.0.2.7", []string{"192.0.2.7:1", "192.0.2.7:65535"}, []string{"192.0.2.8:1"}},
		{"::1", []string{"[::1]:1"}, []string{"127.0.0.1:1"}},
		{"::ffff:10.0.0.0/104", []string{"10.1.1.1:1", "[::ffff:10.1.1.1]:1"}, []string{"11.0.0.1:1"}},
		{"[::ffff:127.0.0.1]:80", []string{"127.0.0.1:80"}, []string{"127.0.0.1:81"}},
		{" 127.0.0.1:80 ", []string{"127.0.0.1:80"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			l, err := ParseIgnore([]string{tt.entry})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.match {
				if !l.Match(netip.MustParseAddrPort(m)) {
					t.Errorf("%s does not match %s", tt.entry, m)
				}
			}
			for _, m := range tt.noMatch {
				if l.Match(netip.MustParseAddrPort(m)) {
					t.Errorf("%s matches %s", tt.entry, m)
				}
			}
		})
	}
}

func TestParseIgnoreErrors(t *testing.T) {
	for _, bad := range []string{
		"", "example.com:80", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http",
		"[::1", "[::1]x", "10.0.0.0/33", "10.0.0.0/8:", ":", "1.2.3", "fe80::1%eth0",
		"[fe80::1%eth0]:80", "::1:80:",
	} {
		_, err := ParseIgnore([]string{"127.0.0.1:1", bad})
		if err == nil {
			t.Errorf("ParseIgnore(%q): no error", bad)
			continue
		}
		if !errors.Is(err, ErrIgnoreEntry) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("ParseIgnore(%q): error %q does not name the entry", bad, err)
		}
	}
}

func TestIgnoreListZero(t *testing.T) {
	var l IgnoreList
	if l.Match(netip.MustParseAddrPort("127.0.0.1:1")) {
		t.Error("zero IgnoreList matches")
	}
}

func FuzzParseIgnore(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:443", "10.0.0.0/8", "10.0.0.0/8:53",
		":22", "fd00::/8:53", "::ffff:1.2.3.4", "[::ffff:10.0.0.0/104]:1", "1.2.3.4"} {
		f.Add(s, "10.1.2.3:53")
	}
	f.Fuzz(func(t *testing.T, entry, peer string) {
		l, err := ParseIgnore([]string{entry})
		if err != nil {
			return
		}
		// The canonical form parses back to the same entry.
		again, err := ParseIgnore([]string{l[0].String()})
		if err != nil {
			t.Fatalf("%q -> %q does not parse: %v", entry, l[0].String(), err)
		}
		if again[0] != l[0] {
			t.Fatalf("%q -> %q -> %+v, want %+v", entry, l[0].String(), again[0], l[0])
		}
		ap, err := netip.ParseAddrPort(peer)
		if err != nil {
			return
		}
		// Both forms and the mapped/unmapped peer agree.
		m := l.Match(ap)
		if again.Match(ap) != m {
			t.Fatalf("%q and its canonical form disagree on %s", entry, ap)
		}
		a := ap.Addr()
		if a.Is4() {
			mapped := netip.AddrPortFrom(netip.AddrFrom16(a.As16()), ap.Port())
			if l.Match(mapped) != m {
				t.Fatalf("%q: %s and %s disagree", entry, ap, mapped)
			}
		}
	})
}
