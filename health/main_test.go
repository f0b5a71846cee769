//go:build linux

package health

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/resreap/resreap/internal/testchild"
)

func TestMain(m *testing.M) {
	testchild.Main()
	goleak.VerifyTestMain(m)
}
