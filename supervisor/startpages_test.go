//go:build linux

package supervisor

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := strings.Join([]string{
		"00400000-00918000 r-xp 00000000 fe:00 9986067  /usr/bin/resreap",
		"00918000-00e7e000 r--p 00518000 fe:00 9986067  /usr/bin/resreap",
		"00e7e000-00ee5000 rw-p 00a7e000 fe:00 9986067  /usr/bin/resreap", // written: kept
		"00ee5000-02f29000 rw-p 00000000 00:00 0",
		"7f0000000000-7f0000001000 r-xp 00000000 fe:00 42  /usr/lib/libc.so.6",    // another file
		"7f0000002000-7f0000003000 r--s 00000000 fe:00 9986067  /usr/bin/resreap", // shared: kept
		"7f0000004000-7f0000005000 r--p 00000000 fe:00 77  /usr/bin/resreap old",  // a name with a space
		"garbage",
	}, "\n")
	have := readOnlyMappings([]byte(maps), "/usr/bin/resreap")
	want := []mapping{{0x400000, 0x918000}, {0x918000, 0xe7e000}}
	if !slices.Equal(have, want) {
		t.Errorf("mappings %x, want %x", have, want)
	}
	if have := readOnlyMappings([]byte(maps), "/usr/bin/resreap old"); !slices.Equal(have, []mapping{{0x7f0000004000, 0x7f0000005000}}) {
		t.Errorf("name with a space: %x", have)
	}
}

// Dropping the code and read-only data of the running test binary loses
// nothing: the code that runs next comes back from the page cache.
func TestReleaseStartupPages(t *testing.T) {
	if kB := releaseStartupPages(); kB == 0 {
		t.Fatal("nothing released")
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		t.Fatal(err)
	}
	if have := strings.Repeat("ab", 3); have != "ababab" {
		t.Errorf("after the release: %q", have)
	}
}
