//go:build linux

package supervisor

import (
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/history"
)

// pastRestarts holds the restarts of each child before this run of
// resreap, so that status counts on from them, as history --summary does,
// instead of starting again at 0 after resreap restarts. They are counted
// once, from the history file, by a goroutine of their own: a 64MB history
// takes about a second to read, and the children do not wait for it
// (status counts from 0 until it is done). A child a reload removes
// leaves its count here, for a reload that adds it again.
type pastRestarts struct {
	mu      sync.Mutex
	counted map[string]history.Tally // from the history, once read
	removed map[string]history.Tally // this run's, of children removed
}

// count reads the restarts of the history at path before start (""
// counts none).
func (p *pastRestarts) count(path string, start time.Time, log zerolog.Logger) {
	if path == "" {
		return
	}
	began := time.Now()
	tallies, warns, err := history.CountRestarts(path, start)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return // no history yet
	case err != nil:
		log.Warn().Err(err).Msg("restart counts of earlier runs unknown: status counts from 0")
		return
	}
	p.mu.Lock()
	p.counted = tallies
	p.mu.Unlock()
	log.Debug().Int("children", len(tallies)).Int("skipped_lines", len(warns)).Str("took", time.Since(began).String()).
		Msg("restart counts of earlier runs read from the history")
}

// keep adds the restarts a child being removed made in this run
// (restarts, by reason), for a reload that adds it again.
func (p *pastRestarts) keep(name string, restarts int, byReason map[history.Reason]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removed == nil {
		p.removed = map[string]history.Tally{}
	}
	t := p.removed[name]
	if t.ByReason == nil {
		t.ByReason = map[history.Reason]int{}
	}
	t.Restarts += restarts
	for r, n := range byReason {
		t.ByReason[r] += n
	}
	p.removed[name] = t
}

// of returns the restarts of the child called name before it was added
// in this run.
func (p *pastRestarts) of(name string) pastTally {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pastTally{p.counted[name], p.removed[name]}
}

// pastTally is the counts a child's status adds to its own.
type pastTally [2]history.Tally

// addTo adds the counts to st's.
func (t pastTally) addTo(st *ChildStatus) {
	for _, past := range t {
		if past.Restarts == 0 {
			continue
		}
		st.Restarts += past.Restarts
		if st.RestartsBy == nil {
			st.RestartsBy = map[history.Reason]int{}
		}
		for r, n := range past.ByReason {
			st.RestartsBy[r] += n
		}
	}
}
