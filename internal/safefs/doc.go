//go:build linux

// Package safefs is how resreap, running as root, touches paths that come
// from the configuration or sit in directories other users may write: a
// child's log directory (often its user's), state, capture and control
// socket directories, the config file and env files. Every open, create,
// append, rename and removal of such a path goes through it.
//
// # The rules
//
// A path is walked from "/" one component at a time, each opened with
// O_NOFOLLOW relative to the directory before it, so no step resolves a
// name a second time (no check-then-use race). Along the way:
//
//   - A directory must be owned by root or by the one user the Policy
//     trusts (a child's own user, for its log files), and must not be
//     writable by others unless it is sticky (/tmp), where nobody can
//     replace an entry they do not own. The directory an operation
//     happens in must not be writable by its group either, unless that is
//     root's group: this is OpenSSH's StrictModes and logrotate's rule.
//     A directory on the way there may be (Ubuntu's /var/log is
//     root:syslog 0775): what its group could swap in must still pass
//     every rule here.
//   - Leaving a directory owned by a user other than root for one owned by
//     somebody else is refused, as systemd's chase() does with CHASE_SAFE:
//     a user's directory may only lead to what that user owns.
//   - A symbolic link is followed only when it is root's and sits in a
//     root directory (/var/run -> /run); a link anybody else could have
//     made is refused, wherever it points.
//   - The last name is opened with O_NOFOLLOW and O_NONBLOCK (a FIFO never
//     blocks the open), created with O_EXCL where it is new, and checked
//     after the open with fstat: a regular file, one link (a hard link to
//     /etc/shadow in a user's directory has two), owned by root or by the
//     trusted user.
//   - Nothing is removed through a path: removals and renames are
//     unlinkat/renameat relative to a directory descriptor opened by these
//     rules, and a tree is removed by descending through descriptors
//     opened with O_NOFOLLOW, so a link swapped in mid-way is unlinked,
//     never followed.
//
// os.Root (Go 1.24) confines names to a directory but follows links that
// stay inside it and knows nothing of owners, so it cannot make these
// checks; this package uses the same openat calls underneath.
//
// # Use
//
//	d, err := safefs.MkdirAll("/var/log/fe", 0o755, safefs.Policy{UID: feUID})
//	if err != nil { ... } // an *UnsafeError names the directory and why
//	defer d.Close()
//	f, err := d.OpenAppend("fe.log", safefs.Perm{UID: feUID, GID: feGID, Mode: 0o640})
package safefs
