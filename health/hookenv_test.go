//go:build linux

package health

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestHookEnv(t *testing.T) {
	ev := &Evidence{
		Reason: ReasonCloseWait, CloseWait: 3, Threshold: 2,
		Samples: []SocketSample{{PID: 7, Inode: 9, Tuple: Tuple{
			Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("127.0.0.1:2")}}},
		ByForeign: map[string]int{"127.0.0.1:2": 3},
	}
	env := HookEnv("web; rm -rf /", 42, ev)
	want := []string{"RESREAP_CHILD=web; rm -rf /", "RESREAP_PID=42", "RESREAP_REASON=close_wait"}
	for i, w := range want {
		if env[i] != w {
			t.Errorf("env[%d] = %q, want %q", i, env[i], w)
		}
	}
	js, ok := strings.CutPrefix(env[3], "RESREAP_EVIDENCE=")
	if !ok {
		t.Fatalf("env[3] = %q", env[3])
	}
	var back Evidence
	if err := json.Unmarshal([]byte(js), &back); err != nil {
		t.Fatal(err)
	}
	if back.CloseWait != 3 || back.Samples[0].Tuple != ev.Samples[0].Tuple {
		t.Errorf("evidence round trip: %+v", back)
	}
	if env := HookEnv("x", 1, nil); env[2] != "RESREAP_REASON=" || env[3] != "RESREAP_EVIDENCE={}" {
		t.Errorf("nil evidence: %q", env)
	}
}
