//go:build linux

// Package control is resreap's control socket: the Unix socket through
// which `resreap status`, `start`, `stop`, `restart`, `reload` and `signal`
// talk to the running supervisor.
//
// The supervisor implements Handler and serves it:
//
//	srv, err := control.Listen("/run/resreap/control.sock", control.Options{}, log)
//	if err != nil {
//		return err // errors.Is(err, control.ErrInUse): another resreap runs
//	}
//	go srv.Serve(ctx, sup) // returns once ctx is done and every connection has ended
//
// and a client calls it:
//
//	resp, err := control.Call(ctx, "/run/resreap/control.sock", control.Request{Cmd: "stop", Child: "fe-server"})
//
// # Socket
//
// The socket is created 0600 in a 0700 directory (0660 and 0750 owned by
// the operators group when Options.Group is set), with its final mode
// before it becomes reachable. An existing socket is dialed first: if a
// process answers, Listen refuses; if nobody does, the leftover is
// replaced. Each connection's peer credentials (SO_PEERCRED) are checked:
// root, the user resreap runs as and members of the operators group are
// served, anyone else gets an error response.
//
// # Protocol
//
// One JSON object per line in each direction, newline-terminated, one
// request per connection; the server closes the connection after its
// answer. Requests:
//
//	{"cmd":"status"}
//	{"cmd":"start","child":"fe-server"}
//	{"cmd":"stop","child":"fe-server"}
//	{"cmd":"restart","child":"fe-server"}
//	{"cmd":"reload"}
//	{"cmd":"signal","child":"fe-server","signal":"HUP"}
//
// Signal names are accepted with or without "SIG", in any case. Answers:
//
//	{"ok":true,"status":[{"name":"fe-server","state":"running","pid":1234,...}]}   status; start (one entry)
//	{"ok":true,"stop":{"child":"fe-server","pid":1234,"signal":"TERM","signals_sent":[...],"killed":false,"duration":"1.2s"}}   stop, restart
//	{"ok":true,"reload":{"started":["api"],"stopped":[],"restarted":["fe-server"],"unchanged":["db"]}}
//	{"ok":true}                                                   signal
//	{"ok":false,"error":"unknown child \"x\"","code":2}
//
// code is the exit status `resreap` uses for the failure: 2 for a usage
// error (unknown command, child or signal, missing argument), 1 for a
// runtime failure (the start failed, the reload's configuration is
// invalid, permission denied). A stop or restart answers only once the
// child has been reaped, which can take the whole escalation; a status is
// answered meanwhile.
package control
