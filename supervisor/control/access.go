//go:build linux

package control

import (
	"fmt"
	"os/user"
	"slices"
	"strconv"
)

// peer is the process on the other end of a connection, as the kernel
// recorded it when that process connected.
type peer struct {
	UID, GID uint32
	PID      int32
}

// access decides who may use the socket. The file mode already keeps
// others out, but it is checked again per connection because a socket
// passed on, or a directory left wider than we would make it, must not
// widen who can stop children.
type access struct {
	owner     uint32 // the effective uid of resreap, which owns the socket
	gid       uint32 // the control group, when group is set
	group     bool
	groupName string // as configured, for the refusal
}

// check lets in root, the socket's owner and, with a group configured,
// processes whose primary or supplementary groups include it. groups is
// called only when the answer depends on the supplementary groups.
func (a access) check(p peer, groups func() ([]uint32, error)) error {
	if p.UID == 0 || p.UID == a.owner {
		return nil
	}
	if a.group {
		if p.GID == a.gid {
			return nil
		}
		gs, err := groups()
		if err != nil {
			return fmt.Errorf("permission denied: cannot read the groups of uid %d: %w", p.UID, err)
		}
		if slices.Contains(gs, a.gid) {
			return nil
		}
	}
	if a.group {
		return fmt.Errorf("permission denied: uid %d is not root, resreap's user (uid %d) or a member of the control group %q", p.UID, a.owner, a.groupName)
	}
	return fmt.Errorf("permission denied: uid %d is not root or resreap's user (uid %d); set control_group to let others in", p.UID, a.owner)
}

// lookupGroup resolves a group name, or takes a numeric gid as it is so
// that a group without an /etc/group entry (containers) can be used.
func lookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err == nil {
		id, perr := strconv.ParseUint(g.Gid, 10, 32)
		if perr != nil {
			return 0, fmt.Errorf("group %q: gid %q: %w", name, g.Gid, perr)
		}
		return uint32(id), nil
	}
	if id, perr := strconv.ParseUint(name, 10, 32); perr == nil {
		return uint32(id), nil
	}
	return 0, fmt.Errorf("control socket group: %w", err)
}
