//go:build !linux

package control

import (
	"errors"
	"fmt"
	"net"
)

// resreap supervises Linux processes; elsewhere the package builds so that
// its types can be shared, but it cannot serve.

func listenSocket(string, Options) (*net.UnixListener, fileIdent, access, error) {
	return nil, fileIdent{}, access{}, fmt.Errorf("control socket: %w", errors.ErrUnsupported)
}

func sameFile(string, fileIdent) bool { return false }

func peerCred(*net.UnixConn) (peer, error) { return peer{}, errors.ErrUnsupported }

func peerGroups(*net.UnixConn, int32) ([]uint32, error) { return nil, errors.ErrUnsupported }
