//go:build linux

package health

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrIgnoreEntry is wrapped by ParseIgnore for an entry it cannot read.
var ErrIgnoreEntry = errors.New("bad ignore entry")

// IgnoreEntry matches foreign endpoints: a prefix (a single host is a /32 or
// /128) and a port. An invalid Prefix matches any address and Port 0 any
// port. IPv4 prefixes are kept in IPv4 form so that an IPv4-mapped IPv6
// peer (a dual-stack socket) matches the entry written for IPv4.
type IgnoreEntry struct {
	Prefix netip.Prefix
	Port   uint16
}

// IgnoreList is a set of foreign endpoints whose CLOSE_WAIT sockets are not
// held against a target (a peer known to half-close on purpose). The zero
// value ignores nothing.
type IgnoreList []IgnoreEntry

// ParseIgnore reads entries of the forms HOST:PORT, [V6]:PORT, CIDR,
// CIDR:PORT (also [V6CIDR]:PORT), :PORT and a bare address. Hosts are IP
// literals: a name would need DNS in the scan loop. The error names the
// first bad entry.
func ParseIgnore(entries []string) (IgnoreList, error) {
	l := make(IgnoreList, 0, len(entries))
	for _, s := range entries {
		e, err := parseIgnoreEntry(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrIgnoreEntry, s, err)
		}
		l = append(l, e)
	}
	return l, nil
}

func parseIgnoreEntry(s string) (IgnoreEntry, error) {
	if s == "" {
		return IgnoreEntry{}, errors.New("empty")
	}
	host, port, hasPort, err := splitIgnore(s)
	if err != nil {
		return IgnoreEntry{}, err
	}
	var e IgnoreEntry
	if hasPort {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return IgnoreEntry{}, fmt.Errorf("port %q: want 1-65535", port)
		}
		e.Port = uint16(p)
	}
	if host == "" {
		if !hasPort {
			return IgnoreEntry{}, errors.New("no address and no port")
		}
		return e, nil
	}
	if strings.Contains(host, "/") {
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return IgnoreEntry{}, err
		}
		e.Prefix = unmapPrefix(p.Masked())
	} else {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return IgnoreEntry{}, err
		}
		if a.Zone() != "" {
			return IgnoreEntry{}, errors.New("zones are not supported")
		}
		a = a.Unmap()
		e.Prefix = netip.PrefixFrom(a, a.BitLen())
	}
	return e, nil
}

// splitIgnore separates the address part from an optional ":PORT". IPv6
// needs care: "fd00::1" has no port, "[fd00::1]:80" and "fd00::/8:80" do.
func splitIgnore(s string) (host, port string, hasPort bool, err error) {
	if strings.HasPrefix(s, "[") {
		i := strings.IndexByte(s, ']')
		if i < 0 {
			return "", "", false, errors.New("missing ]")
		}
		host, rest := s[1:i], s[i+1:]
		if rest == "" {
			return host, "", false, nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", false, errors.New("junk after ]")
		}
		return host, rest[1:], true, nil
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		// CIDR: a port can only follow the prefix length.
		if j := strings.IndexByte(s[i:], ':'); j >= 0 {
			return s[:i+j], s[i+j+1:], true, nil
		}
		return s, "", false, nil
	}
	if strings.Count(s, ":") == 1 {
		i := strings.IndexByte(s, ':')
		return s[:i], s[i+1:], true, nil
	}
	return s, "", false, nil // bare IPv4 or IPv6 address
}

// unmapPrefix turns ::ffff:a.b.c.d/n (n >= 96) into a.b.c.d/(n-96), so that
// it matches the unmapped peers Match compares against.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// String renders the entry in the syntax ParseIgnore reads.
func (e IgnoreEntry) String() string {
	var host string
	if e.Prefix.IsValid() {
		a := e.Prefix.Addr()
		if e.Prefix.IsSingleIP() {
			host = a.String()
		} else {
			host = e.Prefix.String()
		}
		if a.Is6() && e.Port != 0 {
			host = "[" + host + "]"
		}
	}
	if e.Port == 0 {
		return host
	}
	return host + ":" + strconv.Itoa(int(e.Port))
}

// Match reports whether the foreign endpoint remote is ignored.
func (l IgnoreList) Match(remote netip.AddrPort) bool {
	a := remote.Addr().Unmap()
	for _, e := range l {
		if e.Port != 0 && e.Port != remote.Port() {
			continue
		}
		if e.Prefix.IsValid() && !e.Prefix.Contains(a) {
			continue
		}
		return true
	}
	return false
}
