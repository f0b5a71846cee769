//go:build linux

package watch

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/testchild"
)

// helper is a process the watch did not start, like the ones it watches
// in production: the test binary as a testchild helper, recording the
// signals it gets. Its command line ends in a token unique to the test,
// which -f selects; no test ever acts on processes it did not start.
type helper struct {
	*testchild.Child
	token string
}

// helperWait bounds any wait on a helper.
const helperWait = testchild.Timeout

func startHelper(t *testing.T, mode string, env ...string) *helper {
	t.Helper()
	token := fmt.Sprintf("watch-helper-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
	c := testchild.Start(t, testchild.Spec{Mode: mode, Env: env, Token: token, SigLog: true})
	return &helper{Child: c, token: token}
}

// leaker starts a helper holding n CLOSE_WAIT sockets.
func leaker(t *testing.T, n int, env ...string) (*helper, string) {
	t.Helper()
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	env = append(env, testchild.AddrEnv+"="+addr, testchild.NEnv+"="+strconv.Itoa(n))
	return startHelper(t, "leak", env...), addr
}

// realProc is the real /proc as the watch reads it.
func realProc() *procFiles { return newProcFiles("/proc", 256) }

// testContext is a context bounded well below the test timeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
