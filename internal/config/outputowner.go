//go:build linux

package config

import "strconv"

// FileOwner returns the owner and group of the files resreap creates for
// o, an output of a child running as childUser ("" for root): o.Owner,
// else childUser, else root; o.Group, else that owner's primary group. A
// start resolves them with it, and the host check looks up the same
// names.
func (o OutputSpec) FileOwner(childUser string) (uid, gid int, err error) {
	name := o.Owner
	if name == "" {
		name = childUser
	}
	if name != "" {
		u, err := LookupUser(name)
		if err != nil {
			return 0, 0, err
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if o.Group != "" {
		g, err := LookupGroup(o.Group)
		if err != nil {
			return 0, 0, err
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// checkOutputOwners checks the owner and group of a child's output files
// on this host: they must exist, as a start looks them up.
func checkOutputOwners(v *validator, key string, c *ChildSpec) {
	for _, out := range []struct {
		key  string
		spec OutputSpec
	}{{key + ".stdout", c.Stdout}, {key + ".stderr", c.Stderr}} {
		if out.spec.Mode != OutputFile {
			continue
		}
		if out.spec.Owner != "" {
			if _, err := LookupUser(out.spec.Owner); err != nil {
				v.add(out.key+".owner", "%v", err)
			}
		}
		if out.spec.Group != "" {
			if _, err := LookupGroup(out.spec.Group); err != nil {
				v.add(out.key+".group", "%v", err)
			}
		}
	}
}
