//go:build linux

package health

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
)

// parseProcNetTCP appends the CLOSE_WAIT sockets of a /proc/net/tcp or
// /proc/net/tcp6 file to dst. The state column is checked before anything
// else is decoded, so a line of another state costs a short scan and no
// allocation: on a host with 100k connections nearly every line is skipped.
// (procfs's NetTCP decodes every line into a struct with net.IP slices,
// which is several allocations per line for lines that are then dropped.)
func parseProcNetTCP(data []byte, dst []Socket) ([]Socket, error) {
	// Skip the header line.
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[i+1:]
	} else {
		return dst, nil
	}
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		var f [10][]byte
		if n := fields(line, f[:4]); n < 4 {
			continue // blank trailing line
		}
		if string(f[3]) != "08" {
			continue
		}
		if n := fields(line, f[:]); n < 10 {
			return dst, fmt.Errorf("proc net tcp: short line %q", line)
		}
		s, err := parseProcTCPLine(f)
		if err != nil {
			return dst, err
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// fields splits line on spaces into f and returns how many were found,
// stopping when f is full.
func fields(line []byte, f [][]byte) int {
	n := 0
	for n < len(f) {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			i = len(line)
		}
		f[n], line = line[:i], line[i:]
		n++
	}
	return n
}

// parseProcTCPLine decodes the fields "sl local remote st ... uid timeout
// inode" of a CLOSE_WAIT line.
func parseProcTCPLine(f [10][]byte) (Socket, error) {
	local, err := parseHexAddrPort(f[1])
	if err != nil {
		return Socket{}, err
	}
	remote, err := parseHexAddrPort(f[2])
	if err != nil {
		return Socket{}, err
	}
	uid, err := strconv.ParseUint(string(f[7]), 10, 32)
	if err != nil {
		return Socket{}, fmt.Errorf("proc net tcp: uid %q: %w", f[7], err)
	}
	ino, err := strconv.ParseUint(string(f[9]), 10, 64)
	if err != nil {
		return Socket{}, fmt.Errorf("proc net tcp: inode %q: %w", f[9], err)
	}
	return Socket{Inode: ino, UID: uint32(uid), Tuple: Tuple{Local: local, Remote: remote}}, nil
}

// parseHexAddrPort decodes "0100007F:1F90". The kernel prints the address
// as 32-bit words in host byte order (little endian on every platform Linux
// supports for this code), and the port as a plain hex number.
func parseHexAddrPort(b []byte) (netip.AddrPort, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("proc net tcp: bad endpoint %q", b)
	}
	port, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("proc net tcp: bad port in %q", b)
	}
	var raw [16]byte
	n := i / 2
	if (n != 4 && n != 16) || i%2 != 0 {
		return netip.AddrPort{}, fmt.Errorf("proc net tcp: bad address in %q", b)
	}
	if _, err := hex.Decode(raw[:n], b[:i]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("proc net tcp: bad address in %q", b)
	}
	for w := 0; w < n; w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	var a netip.Addr
	if n == 4 {
		a = netip.AddrFrom4([4]byte(raw[:4]))
	} else {
		a = netip.AddrFrom16(raw).Unmap()
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}
