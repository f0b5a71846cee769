//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// DefaultMapSize is how many CLOSE_WAIT sockets the map holds, host-wide:
// far more than a healthy host has, and about 1.5 MiB of kernel memory
// (the hash map is preallocated). A host with more falls back to the dump
// (Counters.Overflow).
const DefaultMapSize = 16384

// Options configure Load. The zero value loads the program as built.
type Options struct {
	// MapSize sets the map's number of entries; 0 means DefaultMapSize.
	// Tests make it small to make it overflow.
	MapSize int
}

// ErrLoad is returned (wrapped) when the program cannot be loaded or
// attached; Why says why in words for an operator.
var ErrLoad = errors.New("bpf: cannot load the CLOSE_WAIT event program")

// Program is the loaded and attached program with its maps. Its methods
// may be called from several goroutines.
type Program struct {
	mu   sync.Mutex
	objs closewaitObjects
	link link.Link
	size int
	// Reused by Entries.
	keys    []uint64
	vals    []closewaitCwValue
	noBatch bool // the kernel refused batch lookups: iterate instead
}

// Load loads the program, sizes its map and attaches it to the
// tracepoint. Every failure wraps ErrLoad; a refusal of the verifier keeps
// its log (see Why and VerifierLog).
func Load(opts Options) (*Program, error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, fmt.Errorf("%w: kernel BTF: %w", ErrLoad, err)
	}
	spec, err := loadClosewait()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	size := opts.MapSize
	if size <= 0 {
		size = DefaultMapSize
	}
	spec.Maps[closewaitMapClosewait].MaxEntries = uint32(size)
	p := &Program{size: size}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	p.link, err = link.AttachTracing(link.TracingOptions{Program: p.objs.InetSockSetState})
	if err != nil {
		p.objs.Close()
		return nil, fmt.Errorf("%w: attach to inet_sock_set_state: %w", ErrLoad, err)
	}
	// The relocations read the kernel's BTF (/sys/kernel/btf/vmlinux,
	// 5-6 MiB) through a private mapping that is unmapped only by a
	// cleanup once the parsed spec is collected. A supervisor at rest may
	// not collect for minutes: collect now (the cleanup runs), and again
	// with the heap returned to the system, so that the mapping and the
	// parse do not sit in resreap's RSS (+7 MiB without this, +2 MiB
	// with it, on 6.18).
	runtime.GC()
	debug.FreeOSMemory()
	return p, nil
}

// Close detaches the program and releases it and its maps: once the
// last file descriptor is closed the kernel frees them.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.link == nil {
		return nil
	}
	err := p.link.Close()
	p.link = nil
	return errors.Join(err, p.objs.Close())
}

// IDs returns the kernel's ids of the program and of its map, by which
// the kernel lists what is loaded (bpftool prog, bpftool map).
func (p *Program) IDs() (prog, m uint32, err error) {
	pi, err := p.objs.InetSockSetState.Info()
	if err != nil {
		return 0, 0, err
	}
	mi, err := p.objs.Closewait.Info()
	if err != nil {
		return 0, 0, err
	}
	pid, _ := pi.ID()
	mid, _ := mi.ID()
	return uint32(pid), uint32(mid), nil
}

// MapSize is the number of entries the map holds.
func (p *Program) MapSize() int { return p.size }

// Why explains a Load error in one line for an operator: what is
// missing, and the verifier's last words when it refused the program.
func Why(err error) string {
	var ve *ebpf.VerifierError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ve):
		return "the kernel's verifier refused the program: " + ve.Error()
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return "not permitted: loading BPF needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (" + err.Error() + ")"
	case errors.Is(err, btf.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return "the kernel has no BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF): " + err.Error()
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		return "the kernel is too old for the program (tp_btf, socket cookies in tracing programs: Linux 5.12): " + err.Error()
	default:
		return err.Error()
	}
}

// VerifierLog returns the verifier's whole log when err is its refusal,
// trimmed to its last lines; "" otherwise.
func VerifierLog(err error) string {
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		return ""
	}
	log := ve.Log
	if len(log) > 30 {
		log = log[len(log)-30:]
	}
	return strings.Join(log, "\n")
}
