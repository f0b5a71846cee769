//go:build linux

package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
)

const stream = `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestOne"}
{"Action":"output","Package":"a","Test":"TestOne","Output":"=== RUN   TestOne\n"}
{"Action":"pass","Package":"a","Test":"TestOne","Elapsed":0.1}
{"Action":"run","Package":"b","Test":"TestTwo"}
{"Action":"run","Package":"b","Test":"TestTwo/sub"}
{"Action":"output","Package":"b","Test":"TestTwo/sub","Output":"    two_test.go:9: it broke\n"}
{"Action":"fail","Package":"b","Test":"TestTwo/sub","Elapsed":0}
{"Action":"fail","Package":"b","Test":"TestTwo","Elapsed":0.2}
{"Action":"output","Package":"a","Output":"PASS\n"}
{"Action":"pass","Package":"a","Elapsed":1.5}
# b [b.test]
{"Action":"skip","Package":"c"}
{"Action":"run","Package":"b","Test":"TestThree"}
{"Action":"skip","Package":"b","Test":"TestThree","Elapsed":0}
{"Action":"fail","Package":"b","Elapsed":2.25}
`

func TestProgress(t *testing.T) {
	var out bytes.Buffer
	code := run(strings.NewReader(stream), &out, time.Hour)
	want := "ok  \ta\t1.500s\n" +
		"# b [b.test]\n" +
		"?   \tc\t[no test files]\n" +
		"    two_test.go:9: it broke\nFAIL\tb\t2.250s\n" +
		"1 passed, 2 failed, 1 skipped\n"
	if code != 1 || out.String() != want {
		t.Errorf("exit %d, printed\n%s\nwant\n%s", code, out.String(), want)
	}
}

// A test still running is named every interval, with how long it has run.
func TestProgressNamesWhatRuns(t *testing.T) {
	r, w := io.Pipe()
	var out testchild.Buffer
	done := make(chan int)
	go func() { done <- run(r, &out, 20*time.Millisecond) }()
	io.WriteString(w, `{"Action":"run","Package":"cmd/resreap","Test":"TestSlow"}`+"\n")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "... running: cmd/resreap TestSlow (") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	io.WriteString(w, `{"Action":"pass","Package":"cmd/resreap","Test":"TestSlow"}`+"\n"+`{"Action":"pass","Package":"cmd/resreap","Elapsed":3}`+"\n")
	w.Close()
	if code := <-done; code != 0 || !strings.Contains(out.String(), "... running: cmd/resreap TestSlow (") ||
		!strings.HasSuffix(out.String(), "ok  \tcmd/resreap\t3.000s\n1 passed, 0 failed, 0 skipped\n") {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
}
