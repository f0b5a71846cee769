//go:build linux

package health

import "time"

// Defaults applied to zero fields of a Policy.
const (
	DefaultThreshold = 2
	DefaultPersist   = 2
	DefaultMaxRatio  = 0.9
)

// Policy says when a target is unhealthy. Start from DefaultPolicy: in the
// zero value the fd ratio check is off (MaxRatio 0), while Threshold and
// Persist fall back to their defaults because 0 would mean "always".
type Policy struct {
	CloseWait CloseWaitPolicy
	FDs       FDPolicy
}

// CloseWaitPolicy judges sockets left in CLOSE_WAIT: the peer closed, the
// process never did, which is the classic leak of a connection pool.
type CloseWaitPolicy struct {
	// Threshold is the number of persistent CLOSE_WAIT sockets that makes
	// the target unhealthy; 0 means DefaultThreshold.
	Threshold int
	// Persist is the number of consecutive scans a socket must be seen in
	// CLOSE_WAIT to count; 0 means DefaultPersist. A short-lived CLOSE_WAIT
	// (the process is about to close) therefore never counts.
	Persist int
	// Ignore lists foreign endpoints whose CLOSE_WAIT sockets do not count.
	Ignore IgnoreList
	// Disabled turns the check off.
	Disabled bool
}

// FDPolicy judges open file descriptors against the soft RLIMIT_NOFILE of
// each process of the target.
type FDPolicy struct {
	// MaxRatio is the fraction of the limit that is unhealthy; 0 = off.
	MaxRatio float64
	// MaxOpen is an absolute count that is unhealthy; 0 = off.
	MaxOpen int
	// Persist is the number of consecutive scans over the limit that makes
	// the target unhealthy; 0 means DefaultPersist.
	Persist int
	// Predict, when set, also makes the target unhealthy when the fd
	// count's trend says it reaches the limit within Predict (see
	// predict.go for when a trend is believed).
	Predict time.Duration
	// Disabled turns the check off (fd usage is then not even read).
	Disabled bool
}

// DefaultPolicy returns the policy resreap applies when the configuration
// says nothing: 2 persistent CLOSE_WAIT sockets over 2 scans, or 90% of the
// fd limit over 2 scans.
func DefaultPolicy() Policy {
	return Policy{
		CloseWait: CloseWaitPolicy{Threshold: DefaultThreshold, Persist: DefaultPersist},
		FDs:       FDPolicy{MaxRatio: DefaultMaxRatio, Persist: DefaultPersist},
	}
}

func (p Policy) withDefaults() Policy {
	if p.CloseWait.Threshold <= 0 {
		p.CloseWait.Threshold = DefaultThreshold
	}
	if p.CloseWait.Persist <= 0 {
		p.CloseWait.Persist = DefaultPersist
	}
	if p.FDs.Persist <= 0 {
		p.FDs.Persist = DefaultPersist
	}
	return p
}
