//go:build linux

package health

import (
	"slices"
	"testing"
)

func TestDescendantsFixture(t *testing.T) {
	tests := []struct {
		root string
		pid  int
		want []int
	}{
		{"testdata/proc", 100, []int{100, 101, 102, 104, 105}}, // 104 is a child of thread 103
		{"testdata/proc", 101, []int{101, 105}},
		{"testdata/proc", 999, []int{999}},
		{"testdata/procstat", 10, []int{10, 11, 13}}, // no children files: stat fallback
		{"testdata/procstat", 1, []int{1, 10, 12, 11, 13}},
	}
	for _, tt := range tests {
		have := Descendants(tt.root, tt.pid)
		if !slices.Equal(have, tt.want) {
			t.Errorf("Descendants(%s, %d) = %v, want %v", tt.root, tt.pid, have, tt.want)
		}
	}
}
