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
// # Guarantees
//
//   - Durable where a reader looks: Append returns nil only once the record
//     is written and fsynced to the file at the path. Before each write
//     the path is compared with the open file (device and inode); a
//     history deleted, renamed away or replaced (logrotate's create mode)
//     is reopened, and created, rather than written to an inode no reader
//     will find. (A replacement between that check and the write takes
//     that one write.) The live size is re-read too, so a truncation in
//     place (copytruncate) does not make the next rotation come early.
//   - Whole lines: one write(2) per batch of records on O_APPEND, so lines
//     never interleave, even with another process appending; a short write
//     is cut back, and a torn tail found at open is ended with a newline.
//   - Nothing waits at open: Open opens with O_NONBLOCK and refuses a path
//     that is not a regular file (ErrNotRegular), so a FIFO nobody reads
//     costs an error, not a hung caller; OpenLater does not touch the file
//     at all. Read refuses such paths the same way. (An open(2) still
//     takes as long as the file system takes to answer it.)
//   - Bounded rotation: a rotation renames or removes each file present
//     once, whatever Keep is, and leaves at most Keep rotated files, .1 the
//     newest; files beyond Keep (left by a larger Keep) are removed.
//   - Failures never break the Writer: after an error it reopens the path
//     at the next Append. The records an append did not write are the
//     caller's to hand again, in order: AppendAll writes a prefix of its
//     records, never a record after one that failed.
//
// A Writer has one owner: it is not safe for concurrent use and keeps no
// queue of its own. The supervisor's recorder queues the events of every
// child and is the one goroutine that appends (and retries); the
// watchdog's emitter appends under its lock.
//
// What may block is Append: it waits for its write(2) and fsync(2) as long
// as the disk takes (a failing disk, a hung NFS server: indefinitely). A
// caller that must not stall, such as the supervisor's restart path,
// appends from a goroutine of its own.
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
