//go:build linux

package config

import (
	"errors"
	"slices"
	"sort"
)

// CheckFile is what resreap check reports of the file at path: every
// problem Load finds and, with host, every problem CheckHost finds in
// what Load could read of it, at once, in the order of their lines. An
// unknown depends_on then does not hide a missing program in the same
// file, and an operator fixes the file in one round instead of one per
// kind of problem. A file that is not TOML at all has only its decode
// problem. The Config is returned only when there is no problem.
//
// The host checks of a file with problems judge the values as Load read
// them; a value Load refused may show a second problem of its own.
func CheckFile(path string, host bool) (*Config, error) {
	cfg, err := Load(path)
	if !host {
		return cfg, err
	}
	if err == nil {
		return cfg, CheckHost(cfg)
	}
	var fileErr *Error
	if !errors.As(err, &fileErr) || fileErr.partial == nil {
		return nil, err
	}
	var hostErr *Error
	if !errors.As(CheckHost(fileErr.partial), &hostErr) {
		return nil, err
	}
	all := slices.Clone(fileErr.Problems)
	for _, p := range hostErr.Problems {
		if !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Line < all[j].Line })
	return nil, &Error{Path: fileErr.Path, Problems: all}
}
