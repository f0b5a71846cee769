//go:build linux

package supervisor

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The mill of an output file compresses its rotated files and removes
// those beyond keep, in a goroutine of its own: a rotation never waits
// for a gzip of a hundred megabytes. It works by name within the file's
// directory (safefs: no link followed, nothing removed through a path),
// and takes only what it could have made: regular files named as
// rotatedName names them. Two mills may work on one directory at once
// (two settings naming one file, for a moment after a reload): each
// compresses into a temporary name of its own and renames it into place,
// so neither removes what the other is writing, and what both do twice
// is done the same way.

// rotatedLayout is the time in a rotated file's name, lumberjack's.
const rotatedLayout = "2006-01-02T15-04-05.000"

// rotatedName is the name base gets when rotated at t (UTC).
func rotatedName(base string, t time.Time) string {
	ext := filepath.Ext(base)
	return strings.TrimSuffix(base, ext) + "-" + t.UTC().Format(rotatedLayout) + ext
}

// rotated is one rotated file of a live file, by its time stamp: the
// plain file, its compressed copy, and temporary copies being (or left
// half) compressed.
type rotated struct {
	stamp string // as in the name; sorts by time
	plain string // "" when there is none
	gz    string // "" when there is none
	tmp   []string
}

// tmpMark starts the suffix of a compression in progress: app-<time>.log
// is compressed into app-<time>.log.gz.tmp-<random>, then renamed.
const tmpMark = ".gz.tmp-"

// rotatedFiles returns the rotated files of base among ents, oldest first.
func rotatedFiles(base string, ents []fs.DirEntry) []rotated {
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + "-"
	byStamp := map[string]*rotated{}
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || !e.Type().IsRegular() || len(rest) < len(rotatedLayout) {
			continue
		}
		stamp, tail := rest[:len(rotatedLayout)], rest[len(rotatedLayout):]
		if _, err := time.Parse(rotatedLayout, stamp); err != nil {
			continue
		}
		r := byStamp[stamp]
		if r == nil {
			r = &rotated{stamp: stamp}
		}
		switch {
		case tail == ext:
			r.plain = name
		case tail == ext+".gz":
			r.gz = name
		case strings.HasPrefix(tail, ext+tmpMark):
			r.tmp = append(r.tmp, name)
		default:
			continue
		}
		byStamp[stamp] = r
	}
	out := make([]rotated, 0, len(byStamp))
	for _, r := range byStamp {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b rotated) int { return strings.Compare(a.stamp, b.stamp) })
	return out
}

// mill compresses and prunes each time it is woken, until stopMill.
func (w *outFile) mill() {
	defer close(w.milled)
	for {
		select {
		case <-w.stop:
			return
		case <-w.wake:
		}
		if err := w.tidy(); err != nil && !errors.Is(err, errStopped) {
			w.log.Warn().Err(err).Str("file", w.path).Msg("rotated output files not all compressed or pruned")
		}
	}
}

// errStopped ends a compression that stopMill cut short.
var errStopped = errors.New("stopped")

// tidy removes the rotated files beyond keep, oldest first, then
// compresses the plain ones that remain when compress is set.
func (w *outFile) tidy() error {
	ents, err := w.dir.ReadDir()
	if err != nil {
		return err
	}
	var all []rotated
	var errs []error
	for _, r := range rotatedFiles(filepath.Base(w.path), ents) {
		if r.plain != "" || r.gz != "" {
			all = append(all, r)
			continue
		}
		// Only temporary copies, their plain file gone: a mill removes
		// the plain file only once its copy is in place, so none is
		// writing them.
		for _, name := range r.tmp {
			if err := w.remove(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for len(all) > w.set.keep {
		r := all[0]
		all = all[1:]
		for _, name := range append([]string{r.plain, r.gz}, r.tmp...) {
			if err := w.remove(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if w.set.compress {
		for _, r := range all {
			if r.plain == "" {
				continue
			}
			if err := w.compress(r.plain); errors.Is(err, errStopped) {
				return err
			} else if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// remove removes name from the file's directory; "" and a name already
// gone are no error.
func (w *outFile) remove(name string) error {
	if name == "" {
		return nil
	}
	if err := w.dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// compress writes name.gz, owned and moded as the live file, from the
// rotated file name, then removes name. The copy is written under a
// temporary name, synced, and renamed into place: name.gz is whole or
// absent, and name goes only once it is.
func (w *outFile) compress(name string) error {
	src, err := w.dir.OpenReadBack(name, w.set.perm.UID)
	if err != nil {
		return err
	}
	defer src.Close()
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail on Linux
	tmp := name + tmpMark + hex.EncodeToString(b)
	dst, err := w.dir.CreateNew(tmp, w.set.perm)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(dst)
	_, err = io.Copy(zw, stoppable{src, w.stop})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.dir.Rename(tmp, name+".gz")
	}
	if err != nil {
		w.remove(tmp) //nolint:errcheck // the next run removes it with its file
		return err
	}
	return w.remove(name)
}

// stoppable reads r until stop is closed.
type stoppable struct {
	r    io.Reader
	stop <-chan struct{}
}

func (s stoppable) Read(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, errStopped
	default:
	}
	return s.r.Read(p)
}
