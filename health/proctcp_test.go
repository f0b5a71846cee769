//go:build linux

package health

import (
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/procfs"
)

func TestParseProcNetTCP(t *testing.T) {
	tests := []struct {
		file string
		want []Socket
	}{
		{"testdata/net_tcp", []Socket{
			sock(23456, 1000, "127.0.0.1:41394", "127.0.0.1:8080"),
			sock(45678, 0, "127.0.0.2:49154", "10.0.0.10:80"),
		}},
		{"testdata/net_tcp6", []Socket{
			sock(6666, 999, "[::1]:45056", "[::1]:8080"),
			sock(7777, 0, "127.0.0.1:45057", "127.0.0.1:22"), // IPv4-mapped, unmapped
			sock(8888, 0, "[fe80::1]:45058", "[2001:db8::1]:443"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			have, err := parseProcNetTCP(data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, have, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); d != "" {
				t.Errorf("-want +have:\n%s", d)
			}
		})
	}
}

func TestParseProcNetTCPBad(t *testing.T) {
	for _, in := range []string{
		"hdr\n 0: 0100007F:1F90 0100007F:A1B2 08 0 0 0 0\n",                                        // short
		"hdr\n 0: 0100007:1F90 0100007F:A1B2 08 00000000:00000000 00:00000000 00000000 0 0 1 1\n",  // odd address
		"hdr\n 0: 0100007F:1F90 0100007F:XXXX 08 00000000:00000000 00:00000000 00000000 0 0 1 1\n", // port
		"hdr\n 0: 0100007F:1F90 0100007F:A1B2 08 00000000:00000000 00:00000000 00000000 x 0 1 1\n", // uid
	} {
		if _, err := parseProcNetTCP([]byte(in), nil); err == nil {
			t.Errorf("parseProcNetTCP(%q): no error", in)
		}
	}
	if s, err := parseProcNetTCP([]byte("hdr only"), nil); err != nil || len(s) != 0 {
		t.Errorf("header only: %v %v", s, err)
	}
}

func TestProcReaderFixture(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile("testdata/net_" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir+"/42/net", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/42/net/"+f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := newProcReader(dir)
	have, err := r.CloseWait(42)
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != 5 {
		t.Errorf("have %d sockets, want 5: %v", len(have), have)
	}
	if _, err := r.CloseWait(43); err == nil {
		t.Error("missing pid: no error")
	}
}

// BenchmarkParseProcNetTCP compares the state-first parser with procfs's
// NetTCP-style full decoding on a 100k-line table with 50 CLOSE_WAIT lines.
func BenchmarkParseProcNetTCP(b *testing.B) {
	data := syntheticNetTCP(100_000, 50)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var out []Socket
	for b.Loop() {
		var err error
		out, err = parseProcNetTCP(data, out[:0])
		if err != nil || len(out) != 50 {
			b.Fatal(err, len(out))
		}
	}
}

// BenchmarkProcfsNetTCP is the same table through procfs's NetTCP, which
// decodes every line; kept to justify the hand-written parser.
func BenchmarkProcfsNetTCP(b *testing.B) {
	dir := b.TempDir()
	if err := os.MkdirAll(dir+"/net", 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dir+"/net/tcp", syntheticNetTCP(100_000, 50), 0o644); err != nil {
		b.Fatal(err)
	}
	fs, err := procfs.NewFS(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		//lint:ignore SA1019 the deprecated procfs parser is the baseline measured here
		lines, err := fs.NetTCP()
		if err != nil || len(lines) != 100_000 {
			b.Fatal(err, len(lines))
		}
	}
}
