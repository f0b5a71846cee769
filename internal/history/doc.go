//go:build linux

// Package history keeps the restart history of resreap's children: an
// append-only JSON Lines file with one Record per start, exit, health
// verdict, stop and restart.
//
// A Writer appends each record with one write(2) on an O_APPEND descriptor
// and fsyncs it before Append returns, so an event the supervisor reports
// elsewhere is already on disk. The file rotates by size (history.jsonl →
// history.jsonl.1 … .Keep). A crash mid-write can leave a torn last line;
// Read skips such lines with a Warning and returns every whole record, oldest
// first across the rotated files.
//
// Example:
//
//	w, err := history.Open(history.DefaultPath, history.Options{MaxSize: 10 << 20, Keep: 5})
//	if err != nil {
//		return err
//	}
//	defer w.Close()
//	if err := w.Append(history.Record{Child: "fe-server", PID: pid, Event: history.EventStart}); err != nil {
//		log.Error().Err(err).Msg("history not written") // supervision goes on
//	}
//
//	recs, warns, err := history.Read(history.DefaultPath, history.Filter{Child: "fe-server", Last: 50})
//	for _, w := range warns {
//		fmt.Fprintln(os.Stderr, "warning:", w)
//	}
//	history.WriteTable(os.Stdout, recs)
package history
