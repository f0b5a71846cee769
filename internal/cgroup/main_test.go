//go:build linux

package cgroup

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/resreap/resreap/internal/testchild"
)

func TestMain(m *testing.M) {
	testchild.Main()
	goleak.VerifyTestMain(m)
}
