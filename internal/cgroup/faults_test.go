//go:build linux

package cgroup

import (
	"context"
	"errors"
	"testing"
)

func TestFaultsOncePerHelper(t *testing.T) {
	var fs Faults
	first, again := errors.New("EMFILE"), errors.New("EMFILE again")
	fs.Add(HelperWatch, first)
	fs.Add(HelperSignal, errors.New("EPERM"))
	fs.Add(HelperWatch, again)
	fs.Add(HelperKill, nil) // not a failure
	have := fs.List()
	if len(have) != 2 || have[0].Helper != HelperWatch || have[0].Err != first || have[0].Times != 2 ||
		have[1].Helper != HelperSignal || have[1].Times != 1 {
		t.Errorf("List() = %+v; want watch (first error, twice), then signal", have)
	}
	if !errors.Is(have[0], first) || have[0].Error() != "watch: EMFILE" {
		t.Errorf("Fault %v: want it to name the helper and wrap its first error", have[0])
	}
	var none *Faults
	none.Add(HelperWatch, first) // dropped, no panic
	if none.List() != nil {
		t.Error("a nil *Faults listed something")
	}
}

func TestFaultsThroughContext(t *testing.T) {
	fs := &Faults{}
	ctx := WithFaults(context.Background(), fs)
	if ContextFaults(ctx) != fs || ContextFaults(context.Background()) != nil {
		t.Fatal("ContextFaults does not return what WithFaults put in")
	}
	note(ctx, HelperProcs, errors.New("EIO"))
	note(context.Background(), HelperProcs, errors.New("dropped"))
	if have := fs.List(); len(have) != 1 || have[0].Helper != HelperProcs {
		t.Errorf("List() = %+v", have)
	}
}
