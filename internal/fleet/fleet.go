//go:build linux

package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/resreap/resreap/internal/fleet/link"
)

// ErrUnreachable is returned, wrapped, while this resreap holds no live
// lease: etcd cannot be reached, or has not answered since the lease was
// lost.
var ErrUnreachable = errors.New("etcd unreachable")

// Defaults of link.Settings' timeouts.
const (
	defaultDialTimeout    = 2 * time.Second
	defaultRequestTimeout = 3 * time.Second
)

// Fleet is one host's connection to the fleet: an etcd client and the
// session lease every key of this host is bound to. Its session goroutine
// keeps the lease alive, and when the lease is lost (etcd unreachable for
// longer than its TTL) grants a new one and puts back this host's members
// and slots under it. The zero value is not usable: make one with Open.
type Fleet struct {
	cfg link.Settings
	cli *clientv3.Client
	log zerolog.Logger

	errs   atomic.Int64 // failed etcd calls
	grants atomic.Int64 // leases granted (1 + reconnections)

	mu       sync.Mutex
	lease    clientv3.LeaseID // 0: none live
	up       bool
	why      error               // why not up
	members  map[string]string   // key -> value this host registered
	held     map[string]heldSlot // group\x00child -> the slot it holds
	onChange func(up bool, why error)

	cancel context.CancelFunc
	done   chan struct{}
}

// heldSlot is a slot this host holds.
type heldSlot struct {
	group, child string
	key          string
	value        string
	pid          int // the member's process when the slot was taken
}

// Open makes the client and starts the session; it does not wait for
// etcd, which may be down (ErrUnreachable until it answers). onChange, if
// set, is called from the session goroutine each time etcd becomes
// reachable or unreachable; it must not block.
func Open(cfg link.Settings, log zerolog.Logger, onChange func(up bool, why error)) (*Fleet, error) {
	f, err := newFleet(cfg, log, onChange)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.session(ctx)
	return f, nil
}

func newFleet(cfg link.Settings, log zerolog.Logger, onChange func(up bool, why error)) (*Fleet, error) {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout, TLS: tlsCfg,
		Username: cfg.User, Password: cfg.Password,
		// The client's own retries of reads stop at each call's
		// deadline; its logger says nothing resreap's log would not.
		Logger:               zap.NewNop(),
		DialKeepAliveTime:    cfg.LeaseTTL,
		DialKeepAliveTimeout: cfg.DialTimeout,
		PermitWithoutStream:  true,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: etcd client: %w", err)
	}
	return &Fleet{cfg: cfg, cli: cli, log: log, members: map[string]string{}, held: map[string]heldSlot{},
		onChange: onChange, cancel: func() {}, done: make(chan struct{}), why: ErrUnreachable}, nil
}

// Dial makes a client without a session (no lease): for the commands
// that read the fleet or write an order.
func Dial(cfg link.Settings, log zerolog.Logger) (*Fleet, error) {
	f, err := newFleet(cfg, log, nil)
	if err != nil {
		return nil, err
	}
	close(f.done)
	return f, nil
}

// tlsConfig is the client's TLS: needed for an https endpoint, or when a
// certificate is given.
func tlsConfig(cfg link.Settings) (*tls.Config, error) {
	secure := cfg.CA != "" || cfg.Cert != ""
	for _, e := range cfg.Endpoints {
		secure = secure || strings.HasPrefix(e, "https://")
	}
	if !secure {
		return nil, nil
	}
	// Without a certificate, ClientConfig authenticates the servers
	// only (against ca, or the system's roots).
	info := transport.TLSInfo{CertFile: cfg.Cert, KeyFile: cfg.Key, TrustedCAFile: cfg.CA}
	c, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("fleet: tls: %w", err)
	}
	c.MinVersion = tls.VersionTLS12
	return c, nil
}

// Host is this resreap's name in the fleet.
func (f *Fleet) Host() string { return f.cfg.Host }

// Close ends the session and revokes the lease, so that this host's
// members and slots go at once rather than after the TTL.
func (f *Fleet) Close() error {
	f.cancel()
	<-f.done
	f.mu.Lock()
	lease := f.lease
	f.lease = 0
	f.mu.Unlock()
	if lease != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), f.cfg.RequestTimeout)
		_, err := f.cli.Revoke(ctx, lease)
		cancel()
		if err != nil {
			f.log.Warn().Err(err).Msg("fleet: lease not revoked; it expires by itself")
		}
	}
	return f.cli.Close()
}

// Up reports whether etcd answers and this host holds a live lease, and
// why not.
func (f *Fleet) Up() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up, f.why
}

// Errors is how many etcd calls failed so far.
func (f *Fleet) Errors() int64 { return f.errs.Load() }

// Grants is how many leases were granted: 1, plus one per lease lost.
func (f *Fleet) Grants() int64 { return f.grants.Load() }

// setUp records whether etcd is reachable, and tells onChange of a change.
func (f *Fleet) setUp(up bool, why error) {
	f.mu.Lock()
	changed := f.up != up
	f.up, f.why = up, why
	on := f.onChange
	f.mu.Unlock()
	if changed && on != nil {
		on(up, why)
	}
}

// failed counts a failed call and, for a failure of the connection, marks
// etcd unreachable until the next answer.
func (f *Fleet) failed(err error) error {
	if err == nil {
		return nil
	}
	f.errs.Add(1)
	if errors.Is(err, context.DeadlineExceeded) || unavailable(err) {
		f.setUp(false, err)
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

// call runs op with the request timeout and counts its failure.
func (f *Fleet) call(ctx context.Context, op func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	return f.failed(op(ctx))
}

// leaseID returns the live lease, or ErrUnreachable.
func (f *Fleet) leaseID() (clientv3.LeaseID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lease == 0 {
		return 0, fmt.Errorf("%w: %w", ErrUnreachable, f.why)
	}
	return f.lease, nil
}

// abandon ends the session and the client without revoking the lease: a
// host that died, for the tests.
func (f *Fleet) abandon() {
	f.cancel()
	<-f.done
	f.mu.Lock()
	f.lease = 0
	f.mu.Unlock()
	f.cli.Close()
}
