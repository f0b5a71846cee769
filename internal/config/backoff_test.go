//go:build linux

package config

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := BackoffSpec{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.2}
	tests := []struct {
		k    int
		u    float64
		want time.Duration
	}{
		{0, 0, time.Second},
		{1, 0, 2 * time.Second},
		{3, 0, 8 * time.Second},
		{4, 0, 10 * time.Second},
		{100, 0, 10 * time.Second},
		{5000, 0, 10 * time.Second}, // overflow to +Inf stays at Max
		{0, 1, 1200 * time.Millisecond},
		{0, -1, 800 * time.Millisecond},
	}
	for _, tt := range tests {
		if have := b.Delay(tt.k, tt.u); have != tt.want {
			t.Errorf("Delay(%d, %v) = %s, want %s", tt.k, tt.u, have, tt.want)
		}
	}
	if d := (BackoffSpec{Max: time.Second, Multiplier: 2}).Delay(3, 0); d != 0 {
		t.Errorf("zero initial: %s", d)
	}
}
