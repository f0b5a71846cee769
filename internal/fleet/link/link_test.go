//go:build linux

package link

import (
	"net"
	"strings"
	"testing"
	"time"
)

// A message goes across whole, a long one too; a closed peer is EOF; a
// line over the limit is refused.
func TestConn(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := NewConn(a), NewConn(b)
	want := Msg{Type: TypeReply, ID: 7, Group: "fe", Holders: []Holder{{Slot: 1, Host: "web-2", Child: "fe.1", Why: strings.Repeat("x", 100000)}},
		Settings: &Settings{Endpoints: []string{"127.0.0.1:2379"}, LeaseTTL: 2 * time.Second}}
	go func() {
		if err := ca.Send(want); err != nil {
			t.Error(err)
		}
		ca.Close()
	}()
	have, err := cb.Recv()
	if err != nil || have.ID != 7 || len(have.Holders) != 1 || have.Holders[0].Why != want.Holders[0].Why || have.Settings.LeaseTTL != 2*time.Second {
		t.Fatalf("Recv = %+v, %v", have, err)
	}
	if _, err := cb.Recv(); !IsEOF(err) {
		t.Errorf("after the peer closed: %v, want EOF", err)
	}
	a, b = net.Pipe()
	go func() {
		a.Write([]byte(strings.Repeat("y", maxLine+10) + "\n")) //nolint:errcheck // the reader stops reading
		a.Close()
	}()
	if _, err := NewConn(b).Recv(); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("an oversized line: %v", err)
	}
	b.Close()
}

func TestHolderString(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 4, 5, 0, time.Local)
	if s := (Holder{Host: "web-2", Child: "fe.1", Since: at}).String(); s != "web-2/fe.1 since 15:04:05" {
		t.Errorf("%q", s)
	}
}
