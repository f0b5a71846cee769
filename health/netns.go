//go:build linux

package health

import "golang.org/x/sys/unix"

// netnsInode identifies the network namespace of pid ("self" for the
// supervisor) by the inode of /proc/<pid>/ns/net: two processes share a
// namespace exactly when these inodes (on the nsfs device) are equal.
func netnsInode(procRoot, pid string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(procRoot+"/"+pid+"/ns/net", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}
