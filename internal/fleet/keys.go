//go:build linux

package fleet

import (
	"strconv"
	"strings"
)

// The keys of one fleet group, under the [fleet] prefix P:
//
//	P groups/<g>/members/<host>/<child>   link.Member JSON, under the host's lease
//	P groups/<g>/slots/<i>                link.Holder JSON, under the holder's lease, i < budget
//	P groups/<g>/verdicts/<host>/<child>  verdict JSON, under the host's lease
//	P groups/<g>/order                    link.Order JSON, no lease: it outlives every resreap
//	P groups/<g>/orders/<id>/<host>/<child>  orderMark JSON, no lease
//
// A group's keys share one prefix, so one watch sees everything that
// happens in it.
type keys struct{ prefix string }

func (k keys) group(g string) string { return k.prefix + "groups/" + g + "/" }

func (k keys) members(g string) string { return k.group(g) + "members/" }

func (k keys) member(g, host, child string) string { return k.members(g) + host + "/" + child }

func (k keys) slots(g string) string { return k.group(g) + "slots/" }

func (k keys) slot(g string, i int) string { return k.slots(g) + strconv.Itoa(i) }

func (k keys) verdicts(g string) string { return k.group(g) + "verdicts/" }

func (k keys) verdict(g, host, child string) string { return k.verdicts(g) + host + "/" + child }

func (k keys) order(g string) string { return k.group(g) + "order" }

func (k keys) marks(g, id string) string { return k.group(g) + "orders/" + id + "/" }

func (k keys) mark(g, id, host, child string) string { return k.marks(g, id) + host + "/" + child }

// hostChild splits the "<host>/<child>" end of a key below prefix.
func hostChild(key, prefix string) (host, child string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}
