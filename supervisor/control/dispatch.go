//go:build linux

package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/signame"
	"github.com/resreap/resreap/supervisor"
)

// dispatch runs one request against h and turns the outcome into a
// Response.
func dispatch(ctx context.Context, h Handler, req Request) Response {
	needChild := func() (Response, bool) {
		if req.Child == "" {
			return usage("%s: missing child name", req.Cmd), false
		}
		return Response{}, true
	}
	switch req.Cmd {
	case CmdStatus:
		sup, st := h.Status()
		if st == nil {
			st = []ChildStatus{}
		}
		return Response{OK: true, Supervisor: &sup, Status: st}
	case CmdStart:
		if r, ok := needChild(); !ok {
			return r
		}
		st, err := h.Start(ctx, req.Child, waitOf(req))
		if err != nil {
			return failure(err)
		}
		return Response{OK: true, Status: []ChildStatus{st}}
	case CmdStop, CmdRestart:
		if r, ok := needChild(); !ok {
			return r
		}
		stop := h.Stop
		if req.Cmd == CmdRestart {
			stop = func(ctx context.Context, child string) (StopReport, error) { return h.Restart(ctx, child, waitOf(req)) }
		}
		rep, err := stop(ctx, req.Child)
		if err != nil {
			return failure(err)
		}
		return Response{OK: true, Stop: &rep}
	case CmdReload:
		rep, err := h.Reload(ctx)
		if err != nil {
			return failure(err)
		}
		return Response{OK: true, Reload: &rep}
	case CmdSignal:
		if r, ok := needChild(); !ok {
			return r
		}
		sig, err := signame.ParseName(req.Signal)
		if err != nil {
			return usage("%v", err)
		}
		if err := h.Signal(ctx, req.Child, sig, req.Main); err != nil {
			return failure(err)
		}
		return Response{OK: true}
	case "":
		return usage("missing command")
	default:
		return usage("unknown command %q", req.Cmd)
	}
}

// waitOf is the request's wait for start and restart, defaulted and capped.
func waitOf(req Request) time.Duration {
	w := time.Duration(req.Wait)
	if w <= 0 {
		return DefaultWait
	}
	return min(w, MaxWait)
}

func usage(format string, args ...any) Response {
	return Response{Error: fmt.Sprintf(format, args...), Code: CodeUsage}
}

// failure maps a handler error to its code: asking about a child that does
// not exist, or reloading a file that is not valid, is the caller's
// mistake (exit 2, as resreap check), anything else a runtime failure.
func failure(err error) Response {
	code := CodeFailure
	if errors.Is(err, supervisor.ErrUnknownChild) || errors.Is(err, config.ErrInvalid) {
		code = CodeUsage
	}
	return Response{Error: err.Error(), Code: code}
}
