//go:build linux

package health

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperMode) != "" {
		// A helper child exits from TestHelperProcess; leak checks are for
		// the test process.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
