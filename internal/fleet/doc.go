//go:build linux

// Package fleet shares the restart budget of fleet groups between the
// resreaps of many hosts through etcd. It runs in resreap's fleet agent
// (resreap-fleet), never in resreap itself; see package link.
package fleet
