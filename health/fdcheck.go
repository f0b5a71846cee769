//go:build linux

package health

import "time"

// fdHistoryLen is how many recent counts feed the slope; at a 10s tick
// that is the last ~2.5 minutes, long enough to smooth bursts and short
// enough to follow a change of pace.
const fdHistoryLen = 16

// fdHistory holds the recent fd counts of one process, oldest first.
type fdHistory struct {
	at []time.Time
	n  []int
}

func (h *fdHistory) add(t time.Time, n int) {
	if len(h.n) == fdHistoryLen {
		copy(h.at, h.at[1:])
		copy(h.n, h.n[1:])
		h.at, h.n = h.at[:fdHistoryLen-1], h.n[:fdHistoryLen-1]
	}
	h.at = append(h.at, t)
	h.n = append(h.n, n)
}

// slopePerMin is the least-squares growth of the count in fds per minute;
// 0 with fewer than two points or no elapsed time.
func (h *fdHistory) slopePerMin() float64 {
	slope, _ := fit(h.at, h.n)
	return slope
}

// checkFDs reads the fd count and limit of every process of a target
// (pids: its cgroup's processes, or PID and its descendants; see pidsOf),
// updates the target's run of scans over the policy (or, with Predict,
// predicted to reach the limit within it), and returns the usage of the
// process closest to its limit (or predicted to reach it first), and
// whether that run makes the target unhealthy: at least Persist
// consecutive scans of the target over the policy, spanning at least
// (Persist-1) of its intervals.
func (s *Scanner) checkFDs(t Target, p FDPolicy, pids []int, now time.Time) (FDUsage, bool) {
	ts := s.state(t.Name)
	name := t.Name
	var worst FDUsage
	worstRatio := -1.0
	over := false
	var predicted FDUsage // the process predicted to run out first (Prediction set)
	live := make(map[int]bool, len(pids))
	for _, pid := range pids {
		n, err := fdCount(s.procRoot, pid, s.dirBuf)
		if err != nil {
			s.logOnce(name, "count fds", pid, err)
			continue
		}
		limit, err := fdLimit(s.procRoot, pid, s.fileBuf)
		if err != nil {
			s.logOnce(name, "read limits", pid, err)
		}
		live[pid] = true
		h := ts.history[pid]
		if h == nil {
			h = &fdHistory{}
			ts.history[pid] = h
		}
		h.add(now, n)
		if overFDLimit(p, n, limit) {
			over = true
		}
		if r := fdRatio(n, limit); r > worstRatio {
			worstRatio = r
			worst = FDUsage{PID: pid, Open: n, Limit: limit, SlopePerMin: h.slopePerMin()}
		}
		if pr, soon := h.predict(limit, p.Predict); soon && (predicted.Prediction == nil || pr.ReachesLimitIn < predicted.Prediction.ReachesLimitIn) {
			found := pr // only a prediction that is kept goes to the heap
			predicted = FDUsage{PID: pid, Open: n, Limit: limit, SlopePerMin: pr.SlopePerMin, Prediction: &found}
		}
	}
	if predicted.Prediction != nil {
		// The process about to run out is the one to show, unless another
		// is over the limit already.
		if !over {
			worst = predicted
		}
		over = true
	}
	for pid := range ts.history {
		if !live[pid] {
			delete(ts.history, pid)
		}
	}
	if over {
		ts.fdOver = record(ts.fdOver, now)
	} else {
		ts.fdOver = ts.fdOver[:0]
	}
	n := len(ts.fdOver)
	unhealthy := n >= p.Persist && now.Sub(ts.fdOver[0]) >= time.Duration(p.Persist-1)*t.Interval
	return worst, unhealthy
}
