//go:build !linux

package health

import "errors"

// The health checks read Linux interfaces (/proc, sock_diag). On other
// systems the package builds, so that code depending on it does, but every
// reader and probe reports errors.ErrUnsupported.

func newDiagReader(string) (SocketReader, error) { return nil, errors.ErrUnsupported }

func netnsInode(string, string) (uint64, error) { return 0, errors.ErrUnsupported }

func fdCount(string, int, []byte) (int, error) { return 0, errors.ErrUnsupported }

func socketInodes(string, int, []byte, func(uint64) bool) error { return errors.ErrUnsupported }

func procUID(string, int) (uint32, error) { return 0, errors.ErrUnsupported }
