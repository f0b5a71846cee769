//go:build linux

package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/resreap/resreap/internal/config"
)

// Captures land in <capture_dir>/<child>/<name>/, created root's 0700
// (files 0600); a child name that is not one directory entry ("..", ".")
// is refused rather than landing beside the capture directory, and
// pruning keeps the newest; a link among them is no capture, neither
// counted nor followed.
func TestCaptureDirectories(t *testing.T) {
	base := t.TempDir()
	caps := filepath.Join(base, "caps")
	spec := config.DefaultChild()
	spec.Name, spec.Capture.Dir = "fe", caps
	d, err := openCaptures(&spec)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"20260101T000000.000Z-1", "20260101T000001.000Z-2", "20260101T000002.000Z-3"} {
		if err := writeCapture(d, name, captureFiles{"status": []byte("x"), "fds.txt": []byte("y")}); err != nil {
			t.Fatal(err)
		}
	}
	// A second write into an existing capture adds to it.
	if err := writeCapture(d, "20260101T000002.000Z-3", captureFiles{"output.txt": []byte("z")}); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(base, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(caps, "fe", "20250101T000000.000Z-9")); err != nil {
		t.Fatal(err)
	}
	if err := pruneCaptures(d, 2); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(caps, "fe"))
	var have []string
	for _, e := range ents {
		have = append(have, e.Name())
	}
	if want := []string{"20250101T000000.000Z-9", "20260101T000001.000Z-2", "20260101T000002.000Z-3"}; !slices.Equal(have, want) {
		t.Errorf("after pruning to 2: %v, want %v (a link is no capture)", have, want)
	}
	for path, mode := range map[string]os.FileMode{
		caps: 0o700, filepath.Join(caps, "fe"): 0o700, filepath.Join(caps, "fe", "20260101T000002.000Z-3"): 0o700,
		filepath.Join(caps, "fe", "20260101T000002.000Z-3", "output.txt"): 0o600,
	} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %v", path, st.Mode(), err, mode)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the link's target: %v", err)
	}

	for _, name := range []string{"..", "."} {
		spec.Name = name
		if d, err := openCaptures(&spec); err == nil {
			d.Close()
			t.Errorf("child %q: captures opened in %s", name, d.Path())
		}
	}
}
