//go:build linux

package supervisor

import (
	"errors"
	"io"

	"github.com/resreap/resreap/internal/history"
)

// The recorder's side of the sink: one goroutine makes every call to it,
// and the outcome of each record says whether to log it, retry it, or
// give it up.

// batchSink is a HistorySink that writes several records with one
// fsync (history.Writer does).
type batchSink interface {
	AppendAll([]history.Record) []error
}

// own is the one goroutine that calls the sink: it writes each batch it
// is handed, and closes the sink (if it is an io.Closer) once there are
// no more. After close gave up waiting, it may still be in a write; it
// closes the sink when that returns.
func (r *recorder) own(writes <-chan []history.Record, results chan<- []error, done chan<- struct{}) {
	defer close(done)
	for recs := range writes {
		results <- appendAll(r.sink, recs)
	}
	if c, ok := r.sink.(io.Closer); ok {
		if err := c.Close(); err != nil {
			r.log.Error().Err(err).Msg("close history")
		}
	}
}

// appendAll writes recs to sink, with one fsync when it can. A sink
// without AppendAll gets one Append per record, and none after the first
// that failed (a permanent failure aside): the records behind it are
// retried with it, in order.
func appendAll(sink HistorySink, recs []history.Record) []error {
	if bs, ok := sink.(batchSink); ok {
		return bs.AppendAll(recs)
	}
	errs := make([]error, len(recs))
	for i, rec := range recs {
		errs[i] = sink.Append(rec)
		if errs[i] != nil && !onDisk(errs[i]) && !permanent(errs[i]) {
			for j := i + 1; j < len(errs); j++ {
				errs[j] = errs[i]
			}
			break
		}
	}
	return errs
}

// onDisk reports whether a record whose append returned err is on disk.
func onDisk(err error) bool { return err == nil || errors.Is(err, history.ErrRotate) }

// permanent reports whether the record whose append returned err will
// never be written, so that retrying it would hold the queue for nothing.
func permanent(err error) bool {
	return errors.Is(err, history.ErrEncode) || errors.Is(err, history.ErrClosed)
}
