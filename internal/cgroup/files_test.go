//go:build linux

package cgroup

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseKeyValues(t *testing.T) {
	have, err := parseKeyValues([]byte("populated 1\nfrozen 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint64{"populated": 1, "frozen": 0}; !reflect.DeepEqual(have, want) {
		t.Errorf("have %v, want %v", have, want)
	}
	for _, bad := range []string{"populated\n", "populated 1 2\n", "populated -1\n"} {
		if _, err := parseKeyValues([]byte(bad)); err == nil {
			t.Errorf("parseKeyValues(%q): no error", bad)
		}
	}
}

func TestParsePIDs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "12\n345\n", want: []int{12, 345}},
		{in: "12\n\n7", want: []int{12, 7}},
		{in: "12\nx\n", wantErr: true},
		{in: "0\n", wantErr: true},
	} {
		have, err := parsePIDs([]byte(tc.in))
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(have, tc.want) {
			t.Errorf("parsePIDs(%q) = %v, %v; want %v, error %v", tc.in, have, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseCPUStat(t *testing.T) {
	us := time.Microsecond
	for _, tc := range []struct {
		file    string
		want    Stats
		wantErr bool
	}{
		{file: "no-cpu-controller.txt", want: Stats{CPUUsage: 447060000 * us, CPUUser: 282360000 * us, CPUSystem: 164700000 * us}},
		{file: "cpu-controller.txt", want: Stats{CPUUsage: 25139771 * us, CPUUser: 19102372 * us, CPUSystem: 6037399 * us}},
		{file: "missing-system.txt", wantErr: true},
		{file: "malformed.txt", wantErr: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "cpu.stat", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			have, err := parseCPUStat(data)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if have != tc.want {
				t.Errorf("have %+v, want %+v", have, tc.want)
			}
		})
	}
}
