package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// A CRI log file holds one record per line:
//
//	<RFC 3339 time> <stdout|stderr> <tag> <content>
//
// The tag is P for a partial record (the runtime split a long line, or
// the process has not finished the line yet) and F for the record that
// ends a line; more ":"-separated tags may follow. A line of output is
// the contents of its P records and its F record, joined.

// record is one parsed log file line.
type record struct {
	ts      time.Time
	stream  string // "stdout" or "stderr"
	partial bool
	content []byte // without the file line's newline
}

var errBadRecord = errors.New("not a CRI log record")

// parseRecord parses one file line (with or without its newline).
func parseRecord(line []byte) (record, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var r record
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, errBadRecord
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return r, fmt.Errorf("%w: timestamp %q", errBadRecord, ts)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return r, fmt.Errorf("%w: stream %q", errBadRecord, stream)
	}
	tags, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// "<ts> <stream> F" with nothing after it is an empty line.
		tags, content = rest, nil
	}
	tag, _, _ := bytes.Cut(tags, []byte{':'})
	r.ts, r.stream, r.partial, r.content = t, string(stream), string(tag) == "P", content
	return r, nil
}

// tailStart returns the offset in r (of size bytes) where the last n lines
// of output begin, counting a line as its partial records and the record
// that ends it. A trailing run of partial records (a line still being
// written) counts as a line; file lines that are not records (never
// printed) do not count. n < 0 means the whole file.
func tailStart(r io.ReaderAt, size, n int64) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	b := &backLines{r: r, off: size}
	var seen int64 // line ends seen, from the end
	last := true   // no record seen yet
	for {
		line, start, ok, err := b.prev()
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, nil
		}
		rec, err := parseRecord(line)
		if err != nil {
			continue
		}
		switch {
		case !rec.partial:
			if seen == n {
				return start + int64(len(line)), nil
			}
			seen++
		case last:
			// The file ends inside a line: that line ends at the end of the file.
			if n == 0 {
				return size, nil
			}
			seen++
		}
		last = false
	}
}

// backLines reads a file's lines from the end, a block at a time.
type backLines struct {
	r   io.ReaderAt
	off int64  // file offset of buf[0]
	buf []byte // file[off:off+len(buf)], not yet returned
}

const backBlock = 32 << 10

// prev returns the line before those already returned (with its newline,
// if it has one) and its offset; ok is false at the start of the file.
func (b *backLines) prev() (line []byte, start int64, ok bool, err error) {
	for {
		if len(b.buf) > 0 {
			// The last byte may be this line's own newline.
			i := bytes.LastIndexByte(b.buf[:len(b.buf)-1], '\n')
			if i >= 0 || b.off == 0 {
				line = b.buf[i+1:]
				b.buf = b.buf[:i+1]
				return line, b.off + int64(i+1), true, nil
			}
		} else if b.off == 0 {
			return nil, 0, false, nil
		}
		n := min(int64(backBlock), b.off)
		chunk := make([]byte, n+int64(len(b.buf)))
		if _, err := b.r.ReadAt(chunk[:n], b.off-n); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, false, err
		}
		copy(chunk[n:], b.buf)
		b.buf, b.off = chunk, b.off-n
	}
}

// logFile is an open CRI log, positioned where output starts.
type logFile struct {
	path string
	f    *os.File
}

// openLog opens a log file and positions it tail lines before its end.
func openLog(path string, tail int64) (*logFile, error) {
	// Resolve symlinks once so that rotation checks compare the real file.
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	start, err := tailStart(f, fi.Size(), tail)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("finding the last %d lines of %s: %w", tail, path, err)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{path: path, f: f}, nil
}

func (l *logFile) close() { l.f.Close() }

// follower decides when a followed log has ended: once the container no
// longer runs and the file has been read to its end.
type follower struct {
	poll       time.Duration
	stateEvery time.Duration
	running    func(ctx context.Context) bool
}

// errLimit ends a copy that reached limitBytes.
var errLimit = errors.New("byte limit reached")

// copyTo writes the log's output to w as the kubelet does: content only,
// or each line prefixed with its first record's time (timestamps); lines
// before opts.since skipped; at most opts.limit bytes; with follow, new
// records as they are written, across rotations of the file, until the
// container stops. flush is called whenever the copy waits for more.
func (l *logFile) copyTo(ctx context.Context, w io.Writer, flush func(), opts logOptions, fw *follower) error {
	lw := &logWriter{w: w, opts: opts, remain: opts.limit, atLineStart: map[string]bool{"stdout": true, "stderr": true}}
	// Without follow, stop after tail lines: the file may grow meanwhile.
	lines := int64(-1)
	if opts.tail >= 0 && !opts.follow {
		lines = opts.tail
	}
	if lines == 0 {
		return nil
	}
	r := bufio.NewReaderSize(l.f, 64<<10)
	var pending []byte // an incomplete file line, awaiting its newline
	var (
		exited    bool      // the container was seen stopped; end at the next EOF
		rotated   bool      // the path names a new file; switch at the next EOF
		lastCheck time.Time // of the container's state
	)
	emit := func(line []byte) error {
		rec, err := parseRecord(line)
		if err != nil {
			return nil // the kubelet skips what it cannot parse, too
		}
		if err := lw.write(rec); err != nil {
			return err
		}
		if lines > 0 && !rec.partial {
			if lines--; lines == 0 {
				return io.EOF
			}
		}
		return nil
	}
	for {
		line, err := r.ReadBytes('\n')
		if err == nil {
			if len(pending) > 0 {
				line = append(pending, line...)
				pending = nil
			}
			if err := emit(line); err != nil {
				return ignoreEnd(err)
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s: %w", l.path, err)
		}
		pending = append(pending, line...)
		if !opts.follow {
			if len(pending) > 0 {
				// The runtime writes whole records, so this is rare; print
				// it as the kubelet does.
				return ignoreEnd(emit(pending))
			}
			return nil
		}
		if rotated {
			// The old file is drained: continue with the new one.
			nf, err := os.Open(l.path)
			if err == nil {
				if len(pending) > 0 {
					if err := emit(pending); err != nil {
						return ignoreEnd(err)
					}
					pending = nil
				}
				l.f.Close()
				l.f, rotated = nf, false
				r.Reset(nf)
				continue
			}
			rotated = false
		}
		if exited {
			return nil
		}
		flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(fw.poll):
		}
		if now := time.Now(); now.Sub(lastCheck) >= fw.stateEvery {
			lastCheck = now
			// Read once more after seeing the container stop: the runtime
			// may have written its last records meanwhile.
			exited = !fw.running(ctx)
		}
		rotated = l.rotated()
	}
}

// rotated says whether the log's path now names another file: the agent
// or the runtime rotated it, and new records go there.
func (l *logFile) rotated() bool {
	cur, err := l.f.Stat()
	if err != nil {
		return false
	}
	fi, err := os.Stat(l.path)
	return err == nil && !os.SameFile(cur, fi)
}

func ignoreEnd(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// logWriter prints records.
type logWriter struct {
	w      io.Writer
	opts   logOptions
	remain int64 // bytes still allowed; < 0: no limit
	// atLineStart is, per stream, whether the next record starts a line
	// (and so gets the timestamp).
	atLineStart map[string]bool
}

func (lw *logWriter) write(rec record) error {
	start := lw.atLineStart[rec.stream]
	lw.atLineStart[rec.stream] = !rec.partial
	if rec.ts.Before(lw.opts.since) || (lw.opts.stream != "" && rec.stream != lw.opts.stream) {
		return nil
	}
	out := make([]byte, 0, len(rec.content)+40)
	if lw.opts.timestamps && start {
		out = append(rec.ts.AppendFormat(out, time.RFC3339Nano), ' ')
	}
	out = append(out, rec.content...)
	if !rec.partial {
		out = append(out, '\n')
	}
	if lw.remain >= 0 && int64(len(out)) > lw.remain {
		out = out[:lw.remain]
	}
	n, err := lw.w.Write(out)
	if lw.remain >= 0 {
		lw.remain -= int64(n)
	}
	if err != nil {
		return err
	}
	if lw.remain == 0 {
		return errLimit
	}
	return nil
}
