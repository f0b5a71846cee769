//go:build linux

package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// numRange is the allowed range of an integer key, bounds included. When
// zero is set, 0 is allowed too and means what zero says ("off", "no
// limit"). unit formats values in messages; nil prints them in decimal.
type numRange struct {
	min, max int64
	zero     string
	unit     func(int64) string
}

func (r numRange) ok(n int64) bool {
	return (n >= r.min && n <= r.max) || (n == 0 && r.zero != "")
}

// explain says what the range allows: "between 1MB and 1TB, or 0 (never
// rotate)".
func (r numRange) explain() string {
	f := r.unit
	if f == nil {
		f = func(n int64) string { return strconv.FormatInt(n, 10) }
	}
	return between(f(r.min), f(r.max), r.zero)
}

// durRange is the allowed range of a duration key, bounds included; zero
// as in numRange.
type durRange struct {
	min, max time.Duration
	zero     string
}

func (r durRange) ok(d time.Duration) bool {
	return (d >= r.min && d <= r.max) || (d == 0 && r.zero != "")
}

func (r durRange) explain() string {
	if r.min == time.Nanosecond {
		return fmt.Sprintf("more than 0s and at most %s", fmtDuration(r.max))
	}
	return between(fmtDuration(r.min), fmtDuration(r.max), r.zero)
}

// floatRange is the allowed range of a float key; maxOpen leaves max out.
// NaN is never in range.
type floatRange struct {
	min, max float64
	maxOpen  bool
	zero     string
}

func (r floatRange) ok(x float64) bool {
	if x == 0 && r.zero != "" {
		return true
	}
	if r.maxOpen {
		return x >= r.min && x < r.max
	}
	return x >= r.min && x <= r.max
}

func (r floatRange) explain() string {
	if r.maxOpen {
		return fmt.Sprintf("at least %g and less than %g", r.min, r.max)
	}
	return between(fmt.Sprintf("%g", r.min), fmt.Sprintf("%g", r.max), r.zero)
}

func between(lo, hi, zero string) string {
	s := "between " + lo + " and " + hi
	if zero != "" && lo != "0" && lo != "0s" {
		s += ", or 0 (" + zero + ")"
	} else if zero != "" {
		s += " (0 = " + zero + ")"
	}
	return s
}

// outOfRange is the message for a value outside its range, as the file
// wrote it: `1ns is out of range: must be between 100ms and 1h`.
func outOfRange(have any, explain string) string {
	return fmt.Sprintf("%v is out of range: must be %s", have, explain)
}

// intIn checks *p against r and stores it in *dst; absent (nil) leaves
// *dst alone.
func intIn[T int | int64](v *validator, key string, p *T, dst *T, r numRange) {
	if p == nil {
		return
	}
	if !r.ok(int64(*p)) {
		v.add(key, "%s", outOfRange(*p, r.explain()))
		return
	}
	*dst = *p
}

// floatIn checks *p against r and stores it in *dst.
func floatIn(v *validator, key string, p *float64, dst *float64, r floatRange) {
	if p == nil {
		return
	}
	if !r.ok(*p) {
		v.add(key, "%s", outOfRange(*p, r.explain()))
		return
	}
	*dst = *p
}

// duration parses a duration key into *dst, which it leaves alone when the
// key is absent or wrong. It reports whether the key was absent or good.
func (v *validator) duration(key string, s *string, dst *time.Duration, r durRange) bool {
	if s == nil {
		return true
	}
	d, err := time.ParseDuration(*s)
	switch {
	case err != nil:
		v.add(key, "bad duration %q (want e.g. \"2s\", \"500ms\", \"1m\")", *s)
	case !r.ok(d):
		v.add(key, "%s", outOfRange(*s, r.explain()))
	default:
		*dst = d
		return true
	}
	return false
}

// size parses a size key (bytes, or a string like "64MB") into *dst.
func (v *validator) size(key string, x any, dst *int64, r numRange) {
	if x == nil {
		return
	}
	n, err := parseSize(x)
	switch {
	case err != nil:
		v.add(key, "%v", err)
	case !r.ok(n):
		v.add(key, "%s", outOfRange(sizeText(x), r.explain()))
	default:
		*dst = n
	}
}

// sizeText is a size as the file wrote it.
func sizeText(x any) string {
	if s, ok := x.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(x)
}

// sizeUnits are the suffixes parseSize knows, longest first so that "KB"
// is not read as "B". K, M, G, T and P are binary multiples (KiB ...).
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40}, {"PIB", 1 << 50},
	{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"PB", 1 << 50},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"P", 1 << 50},
	{"B", 1},
}

// parseSize reads a byte count: an integer, or a string like "100MB",
// "512KiB", "1G" (binary multiples). A size that does not fit in an int64
// is an error, not a wrapped-around negative number.
func parseSize(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("size %d is negative", x)
		}
		return x, nil
	case string:
		s := strings.ToUpper(strings.TrimSpace(x))
		mult := int64(1)
		for _, u := range sizeUnits {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
				break
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && !strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("size %q is too large (at most 8EB)", x)
		}
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad size %q (want e.g. 100MB)", x)
		}
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q is too large (at most 8EB)", x)
		}
		return n * mult, nil
	}
	return 0, fmt.Errorf("bad size %v (want bytes or a string like \"100MB\")", v)
}

// fmtSize prints n in the largest unit that divides it: 1048576 is "1MB".
func fmtSize(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"PB", 1 << 50}, {"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if n != 0 && n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

// fmtDuration prints d without zero tails: "1h", not "1h0m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
