//go:build linux

// Package link is what resreap and its fleet agent (resreap-fleet agent)
// say to each other: JSON lines over one Unix stream socket. It imports no
// etcd code, so resreap itself links none: the etcd client (gRPC,
// protobuf and their registries) costs 7.7 MB of RSS in every process
// that links it, used or not, and a resreap without [fleet] must not pay
// that (see internal/fleet's doc.go for the figures).
//
// resreap sends Hello first, then member states, verdicts, acquire and
// release requests; the agent answers each Acquire and Stats with a
// Reply carrying its ID, and sends Conn, Correlated and OrderRestart on
// its own.
package link

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Message types.
const (
	// resreap -> agent
	TypeHello    = "hello"     // Settings and Groups; first, once
	TypeGroups   = "groups"    // the fleet groups after a reload
	TypeMember   = "member"    // a member's state (Member); State "gone" unregisters it
	TypeAcquire  = "acquire"   // take a restart slot for Child (ID; Why)
	TypeRelease  = "release"   // give back Child's slot: its restart did not happen
	TypeVerdict  = "verdict"   // Child's dominant CLOSE_WAIT endpoint (Endpoint, Window)
	TypeStats    = "stats"     // ask for Stats (ID)
	TypeOrderAck = "order_ack" // Child's order restart was begun (OK) or could not be (Err)
	// agent -> resreap
	TypeReply        = "reply"         // answer to Acquire or Stats (ID)
	TypeConn         = "conn"          // etcd reachable or not (Up, Err)
	TypeCorrelated   = "correlated"    // members on several hosts agree on Endpoint (Hosts, Members)
	TypeOrderRestart = "order_restart" // restart Child for Order, holding a slot
	TypeOrderDone    = "order_done"    // Child's order restart is over (Order, State)
)

// Msg is one line either way; which fields are set depends on Type.
type Msg struct {
	Type  string `json:"type"`
	ID    uint64 `json:"id,omitempty"`
	Group string `json:"group,omitempty"`
	Child string `json:"child,omitempty"`

	Settings *Settings `json:"settings,omitempty"`
	Groups   []Group   `json:"groups,omitempty"`
	Member   *Member   `json:"member,omitempty"`
	Why      string    `json:"why,omitempty"`

	// Verdict, Correlated.
	Endpoint string        `json:"endpoint,omitempty"`
	Window   time.Duration `json:"window,omitempty"`
	Hosts    []string      `json:"hosts,omitempty"`
	Members  []string      `json:"members,omitempty"`

	// Reply to Acquire: OK, or the Holders of every slot, or Unreachable.
	OK          bool     `json:"ok,omitempty"`
	Err         string   `json:"err,omitempty"`
	Unreachable bool     `json:"unreachable,omitempty"`
	Holders     []Holder `json:"holders,omitempty"`
	Slots       int      `json:"slots,omitempty"` // the group's budget
	Stats       *Stats   `json:"stats,omitempty"`

	// Conn.
	Up bool `json:"up,omitempty"`

	// OrderRestart, OrderDone.
	Order *Order `json:"order,omitempty"`
	State string `json:"state,omitempty"`
}

// Settings is the [fleet] table, for the agent.
type Settings struct {
	Endpoints      []string      `json:"endpoints"`
	CA             string        `json:"ca,omitempty"`
	Cert           string        `json:"cert,omitempty"`
	Key            string        `json:"key,omitempty"`
	User           string        `json:"user,omitempty"`
	Password       string        `json:"password,omitempty"`
	Prefix         string        `json:"prefix"`
	Host           string        `json:"host"`
	LeaseTTL       time.Duration `json:"lease_ttl"`
	DialTimeout    time.Duration `json:"dial_timeout,omitempty"`
	RequestTimeout time.Duration `json:"request_timeout,omitempty"`
}

// Group is a fleet group as this host has it: its local members and its
// fleet budget (a count, or with Percent a percentage of the members
// registered fleet-wide).
type Group struct {
	Name           string   `json:"name"`
	Members        []string `json:"members"`
	MaxUnavailable int      `json:"max_unavailable"`
	Percent        bool     `json:"percent,omitempty"`
}

// Member is what the fleet knows of one member: its state ("running",
// "starting", "backoff"... as status says them), its live process, and
// why it last stopped.
type Member struct {
	Host   string    `json:"host"`
	Child  string    `json:"child"`
	State  string    `json:"state"`
	PID    int       `json:"pid,omitempty"`
	Ready  bool      `json:"ready"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// Holder is who holds a slot: host/child, since when, and why (the
// verdict's reason, or "order <id>").
type Holder struct {
	Slot  int       `json:"slot"`
	Host  string    `json:"host"`
	Child string    `json:"child"`
	Since time.Time `json:"since"`
	Why   string    `json:"why,omitempty"`
}

// String is "web-2/fe.1 since 15:04:05".
func (h Holder) String() string {
	return fmt.Sprintf("%s/%s since %s", h.Host, h.Child, h.Since.Local().Format("15:04:05"))
}

// Order is a rolling restart of a fleet group: every member restarted
// once, at most MaxUnavailable at a time fleet-wide.
type Order struct {
	ID             string    `json:"id"`
	MaxUnavailable int       `json:"max_unavailable"`
	Reason         string    `json:"reason,omitempty"`
	Created        time.Time `json:"created"`
	By             string    `json:"by,omitempty"` // user@host that wrote it
	// Members are the members ("host/child") registered when the order
	// was written: it is not over until each is done or failed, even
	// while its resreap is down and it is registered no more.
	Members []string `json:"members,omitempty"`
}

// Stats is the agent's figures for metrics.
type Stats struct {
	Up          bool         `json:"up"`
	EtcdErrors  int64        `json:"etcd_errors"`
	Groups      []GroupStats `json:"groups,omitempty"`
	LeaseGrants int64        `json:"lease_grants"`
}

// GroupStats is one fleet group: the slots this host holds, and the
// members registered fleet-wide by state.
type GroupStats struct {
	Group     string         `json:"group"`
	SlotsHeld int            `json:"slots_held"`
	ByState   map[string]int `json:"by_state,omitempty"`
}

// ErrClosed is returned by Send once the connection is closed.
var ErrClosed = errors.New("fleet link closed")

// Conn is one end of the link. Send is safe for concurrent use; Recv is
// for one reader.
type Conn struct {
	c   net.Conn
	r   *bufio.Reader
	mu  sync.Mutex // serialises writes
	enc *json.Encoder
}

// maxLine bounds a message: the largest is a Reply naming every slot
// holder of a group.
const maxLine = 1 << 20

// writeTimeout bounds one write: a peer that stops reading is broken.
const writeTimeout = 5 * time.Second

// NewConn wraps c.
func NewConn(c net.Conn) *Conn {
	return &Conn{c: c, r: bufio.NewReaderSize(c, 64<<10), enc: json.NewEncoder(c)}
}

// Send writes m as one line.
func (c *Conn) Send(m Msg) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if err := c.enc.Encode(m); err != nil {
		return fmt.Errorf("fleet link: send %s: %w", m.Type, err)
	}
	return nil
}

// Recv reads the next message; io.EOF when the peer closed the link.
func (c *Conn) Recv() (Msg, error) {
	var line []byte
	for {
		part, isPrefix, err := c.r.ReadLine()
		if err != nil {
			return Msg{}, err
		}
		line = append(line, part...)
		if len(line) > maxLine {
			return Msg{}, fmt.Errorf("fleet link: message over %d bytes", maxLine)
		}
		if !isPrefix {
			break
		}
	}
	var m Msg
	if err := json.Unmarshal(line, &m); err != nil {
		return Msg{}, fmt.Errorf("fleet link: %w", err)
	}
	return m, nil
}

// Close closes the link; the peer's Recv returns io.EOF.
func (c *Conn) Close() error { return c.c.Close() }

// IsEOF reports whether err is the peer closing the link.
func IsEOF(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) }
