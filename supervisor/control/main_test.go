//go:build linux

package control

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// helperEnv selects the client mode of the test binary: peer credential
// tests re-exec it as another user to call the socket named by it.
const helperEnv = "RESREAP_CONTROL_TEST_SOCKET"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(helperCall(path))
	}
	goleak.VerifyTestMain(m)
}

// helperCall asks for the status and prints the response as JSON, or the
// error prefixed with "error: ".
func helperCall(path string) int {
	resp, err := Call(context.Background(), path, Request{Cmd: CmdStatus})
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		return 1
	}
	return 0
}
