//go:build linux

package cgroup

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fileIDKernfs is the file handle type of kernfs (FILEID_KERNFS in
// include/linux/exportfs.h): an 8-byte handle holding the kernfs node id.
const fileIDKernfs = 0xfe

// ID returns the cgroup id: the number the kernel reports for this cgroup
// as INET_DIAG_CGROUP_ID in a sock_diag dump (the cgroup of the task that
// created the socket) and from bpf_get_current_cgroup_id(). It is unique
// for the boot: ids are never reused.
//
// Kernel behaviour relied on (since 5.5): the cgroup id is the 64-bit id
// of the directory's kernfs node (cgroup_id(cgrp) == cgrp->kn->id), and
// name_to_handle_at(2) on a cgroup2 directory returns exactly that id as an
// 8-byte handle of type FILEID_KERNFS (how systemd and the kernel's bpf
// selftests read it). The directory's inode number is the same id on 64-bit
// machines (only its low 32 bits on 32-bit ones), and is the fallback when
// the handle is not of the kernfs type.
func (g Group) ID() (uint64, error) {
	if err := g.valid(); err != nil {
		return 0, err
	}
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, g.dir, 0)
	if err == nil && h.Type() == fileIDKernfs && h.Size() == 8 {
		return binary.NativeEndian.Uint64(h.Bytes()), nil
	}
	var st unix.Stat_t
	if err := unix.Stat(g.dir, &st); err != nil {
		return 0, fmt.Errorf("cgroup id: %w", &os.PathError{Op: "stat", Path: g.dir, Err: err})
	}
	return st.Ino, nil
}

// OpenFD opens the cgroup directory for syscall.SysProcAttr's CgroupFD:
//
//	f, err := g.OpenFD()
//	...
//	defer f.Close()
//	attr.Sys = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
//
// With it the child is created inside the cgroup by clone3's
// CLONE_INTO_CGROUP (Linux 5.7): it never runs a single instruction
// elsewhere, so no fork it makes can escape, which moving it after start
// through cgroup.procs cannot promise. The fd is O_PATH|O_DIRECTORY|
// O_CLOEXEC: clone3 takes any fd of the directory (fget_raw accepts O_PATH)
// and the permission check uses the credentials it was opened with. Keep
// it open until the fork returns; the caller closes it.
func (g Group) OpenFD() (*os.File, error) {
	if err := g.valid(); err != nil {
		return nil, err
	}
	fd, err := unix.Open(g.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup: %w", &os.PathError{Op: "open", Path: g.dir, Err: err})
	}
	return os.NewFile(uintptr(fd), g.dir), nil
}
