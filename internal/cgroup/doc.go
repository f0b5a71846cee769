//go:build linux

// Package cgroup is the small cgroup v2 library resreap's supervisor uses
// to own the whole process tree of each child: one cgroup per child, the
// child created inside it by clone3 (CLONE_INTO_CGROUP), signals that reach
// every process of the tree (a setsid grandchild, a double-forked daemon),
// cgroup.kill as the last step of a stop, "populated 0" as the proof that
// the tree is gone, and the cgroup id that sock_diag reports with each
// socket as the map from sockets to children.
//
// # Finding the hierarchy
//
// Detect reads /proc/self/mountinfo for the first mount of type "cgroup2"
// (/sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified on a hybrid
// one) and the "0::" line of /proc/self/cgroup for the process's own
// cgroup, and probes whether cgroups can be made below it. Without a
// writable hierarchy the supervisor runs each child in its own process
// group only.
//
// # Layout
//
// A Subtree is the layout of one supervisor instance below the cgroup it
// was started in (say /system.slice/resreap.service):
//
//	<own>/<instance>/                 inner node, no processes
//	<own>/<instance>/supervisor/      the supervisor moves itself here
//	<own>/<instance>/child-<name>.<gen>/  one leaf per start of a child (ChildLeaf)
//
// cgroup v2 keeps processes out of inner nodes once controllers are
// enabled for their children, hence the supervisor's own leaf. Child leaves
// carry a prefix because a child may be called "supervisor", or like an
// interface file ("cgroup.procs"). Every start of a child gets a leaf of its
// own generation (ChildLeaf), so two generations of one child can sit side
// by side, and clone3 never places a process in a cgroup that was killed
// before. After a crash, the next supervisor finds the old generations
// with Subtree.Leaves.
//
// Limits (SetMemoryMax, SetPidsMax) need their controller enabled on every
// level above the leaf: after the supervisor has moved into its leaf,
// EnableControllers on <own> (possible only if nothing else runs there, as
// in a systemd unit with Delegate=yes) and then on <instance>. A hybrid
// host binds memory and pids to cgroup v1, so it has no limits to offer.
//
// # Failing closed
//
// A stop must not end early because one of its helpers broke: a stop that
// returned at once when the freeze could not watch cgroup.events (inotify
// instances used up, 128 per user by default) left the old generation
// holding its port while the next one failed to bind, 14 times in 15 s.
// So Signal and SignalCont skip a freeze they cannot have and signal in
// rounds, skip a process they cannot pin or signal and signal the others;
// WaitEmpty polls cgroup.events every 50 ms when it cannot watch it, and
// keeps reading when a read fails; none of them returns early for want of
// a helper. What they went on without goes to the Faults the caller put
// in the context (WithFaults), one entry per helper however often it
// failed, for the caller to log once and count. Kill reports its own
// failure, and the caller signals each process instead.
//
// RemoveWait retries a busy rmdir every 20 ms: "populated 0" can come
// before the kernel is done with the last exiting task.
//
// # Why our own files
//
// What the supervisor needs is a handful of reads and writes of interface
// files (cgroup.procs, cgroup.events, cgroup.kill, cgroup.freeze,
// cpu.stat, memory.max, pids.max), which this package does with the
// standard library and x/sys/unix alone. github.com/containerd/cgroups/v3
// (v3.1.3), the Go ecosystem's library, does those too, but its cgroup2
// package brings 9 modules resreap does not have (itself, cilium/ebpf,
// godbus/dbus, coreos/go-systemd, opencontainers/runtime-spec, protobuf,
// logrus, containerd/log, x/exp) and 45 non-standard packages (26 of them
// protobuf, 11 cilium/ebpf): a program that loads a cgroup, lists and kills
// it compiles 190 packages into 9.9 MB, against 104 packages and 3.0 MB
// for one calling Detect here. And it lacks what matters most to us: the
// directory fd for clone3's CLONE_INTO_CGROUP (it moves PIDs into
// cgroup.procs after start, when a fork may already have escaped); a wait
// for "populated 0" on cgroup.events that leaves no goroutine behind (its
// EventChan watches memory.events, needs the memory controller and keeps a
// goroutine reading); the cgroup id that sock_diag reports as
// INET_DIAG_CGROUP_ID; and a signal that cannot hit a reused PID (its
// fallback kill signals PIDs read from cgroup.procs without checking them
// again, and its freeze polls every millisecond without a bound).
//
// # Example
//
//	h, err := cgroup.Detect()
//	if err != nil || !h.Writable {
//		return err // process groups only
//	}
//	sub, err := cgroup.NewSubtree(h, "resreap")
//	...
//	if err := sub.Create(); err != nil { ... }
//	if err := sub.Supervisor().AddProc(os.Getpid()); err != nil { ... }
//	leaf, err := sub.Child("fe-server", 1)
//	if err := leaf.Create(); err != nil { ... }
//	f, err := leaf.OpenFD()
//	attr.Sys = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd()), Setpgid: true}
//	pid, err := syscall.ForkExec(path, argv, attr) // placed before exec
//	f.Close()
//	...
//	faults := &cgroup.Faults{}
//	ctx = cgroup.WithFaults(ctx, faults)
//	n, err := leaf.SignalCont(ctx, unix.SIGTERM) // every process of the tree, then SIGCONT
//	...                                          // wait, escalate
//	err = leaf.Kill()                            // cgroup.kill
//	err = leaf.WaitEmpty(ctx)                    // "populated 0"
//	err = leaf.RemoveWait(ctx)
//	log(faults.List())                           // what the stop went on without
package cgroup
