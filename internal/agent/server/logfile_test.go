package server

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/poll"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		line    string
		stream  string
		partial bool
		content string
		wantErr bool
	}{
		{line: "2024-05-01T10:00:00.123456789Z stdout F hello world\n", stream: "stdout", content: "hello world"},
		{line: "2024-05-01T10:00:00Z stderr P part", stream: "stderr", partial: true, content: "part"},
		{line: "2024-05-01T10:00:00.5+02:00 stdout F:extra tagged", stream: "stdout", content: "tagged"},
		{line: "2024-05-01T10:00:00Z stdout F \n", stream: "stdout", content: ""},
		{line: "2024-05-01T10:00:00Z stdout F\n", stream: "stdout", content: ""},
		{line: "2024-05-01T10:00:00Z stdout F  two  spaces ", stream: "stdout", content: " two  spaces "},
		{line: "not a record\n", wantErr: true},
		{line: "2024-05-01T10:00:00Z stdin F x", wantErr: true},
		{line: "yesterday stdout F x", wantErr: true},
		{line: "", wantErr: true},
	}
	for _, tt := range tests {
		r, err := parseRecord([]byte(tt.line))
		if (err != nil) != tt.wantErr {
			t.Errorf("parseRecord(%q) error = %v, want error %v", tt.line, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if r.stream != tt.stream || r.partial != tt.partial || string(r.content) != tt.content {
			t.Errorf("parseRecord(%q) = %s %v %q, want %s %v %q", tt.line, r.stream, r.partial, r.content, tt.stream, tt.partial, tt.content)
		}
	}
}

// t0 is the time of the first record in the test logs; record i is i
// seconds later.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// criLog builds a CRI log file from "stream tag content" specs.
func criLog(specs ...string) string {
	var b strings.Builder
	for i, s := range specs {
		fmt.Fprintf(&b, "%s %s\n", t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), s)
	}
	return b.String()
}

func writeLog(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll copies a whole log (no follow) with opts.
func readAll(t *testing.T, path string, opts logOptions) string {
	t.Helper()
	lf, err := openLog(path, opts.tail)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.close()
	var out bytes.Buffer
	if err := lf.copyTo(context.Background(), &out, func() {}, opts, nil); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestCopyLog(t *testing.T) {
	mixed := criLog(
		"stdout F one",            // t0
		"stderr F two",            // t0+1s
		"stdout P thr",            // t0+2s
		"stdout P e",              // t0+3s
		"stdout F e!",             // t0+4s
		"garbage is skipped",      // t0+5s (not a record)
		"stdout F four",           // t0+6s
		"stdout F",                // t0+7s, an empty line
		"stderr F five and more!", // t0+8s
	)
	all := logOptions{tail: -1, limit: -1}
	tests := []struct {
		name    string
		content string
		opts    func(o *logOptions)
		want    string
	}{
		{"everything, partials joined", mixed, nil, "one\ntwo\nthree!\nfour\n\nfive and more!\n"},
		{"tail 2", mixed, func(o *logOptions) { o.tail = 2 }, "\nfive and more!\n"},
		{"tail counts joined lines", mixed, func(o *logOptions) { o.tail = 4 }, "three!\nfour\n\nfive and more!\n"},
		{"tail larger than the log", mixed, func(o *logOptions) { o.tail = 100 }, "one\ntwo\nthree!\nfour\n\nfive and more!\n"},
		{"tail 0", mixed, func(o *logOptions) { o.tail = 0 }, ""},
		{"timestamps on line starts only", criLog("stdout P a", "stdout F b", "stdout F c"), func(o *logOptions) { o.timestamps = true },
			"2024-05-01T10:00:00Z ab\n2024-05-01T10:00:02Z c\n"},
		{"timestamps keep nanoseconds", "2024-05-01T10:00:00.000000123Z stdout F x\n", func(o *logOptions) { o.timestamps = true },
			"2024-05-01T10:00:00.000000123Z x\n"},
		{"since", mixed, func(o *logOptions) { o.since = t0.Add(6 * time.Second) }, "four\n\nfive and more!\n"},
		{"since and tail", mixed, func(o *logOptions) { o.tail = 5; o.since = t0.Add(7 * time.Second) }, "\nfive and more!\n"},
		{"limitBytes cuts a line", mixed, func(o *logOptions) { o.limit = 6 }, "one\ntw"},
		{"limitBytes on a line end", mixed, func(o *logOptions) { o.limit = 8 }, "one\ntwo\n"},
		{"limitBytes counts timestamps", mixed, func(o *logOptions) { o.limit = 10; o.timestamps = true }, "2024-05-01"},
		{"stdout only", mixed, func(o *logOptions) { o.stream = "stdout" }, "one\nthree!\nfour\n\n"},
		{"stderr only", mixed, func(o *logOptions) { o.stream = "stderr" }, "two\nfive and more!\n"},
		{"a line still being written counts for tail", criLog("stdout F a", "stdout F b", "stdout P c"), func(o *logOptions) { o.tail = 2 }, "b\nc"},
		{"tail 1 of a line still being written", criLog("stdout F a", "stdout P b", "stdout P c"), func(o *logOptions) { o.tail = 1 }, "bc"},
		{"an unterminated last record is printed", criLog("stdout F a") + t0.Format(time.RFC3339Nano) + " stdout F b", nil, "a\nb\n"},
		{"empty file", "", nil, ""},
		{"empty file, tail", "", func(o *logOptions) { o.tail = 3 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := all
			if tt.opts != nil {
				tt.opts(&opts)
			}
			if got := readAll(t, writeLog(t, tt.content), opts); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTailAcrossBlocks reads the tail of a log larger than the blocks the
// file is read backwards in, with long partial lines straddling blocks.
func TestTailAcrossBlocks(t *testing.T) {
	var specs []string
	var want []string
	for i := 0; i < 3000; i++ {
		if i%7 == 0 {
			long := strings.Repeat(fmt.Sprint(i%10), 5000)
			specs = append(specs, "stdout P "+long, "stdout P "+long, fmt.Sprintf("stdout F %d", i))
			want = append(want, long+long+fmt.Sprint(i))
			continue
		}
		specs = append(specs, fmt.Sprintf("stdout F line %d", i))
		want = append(want, fmt.Sprintf("line %d", i))
	}
	path := writeLog(t, criLog(specs...))
	for _, n := range []int{1, 2, 7, 8, 100, 2999, 3000, 5000} {
		opts := logOptions{tail: int64(n), limit: -1}
		exp := want[max(0, len(want)-n):]
		if got := readAll(t, path, opts); got != strings.Join(exp, "\n")+"\n" {
			t.Errorf("tail %d: got %d bytes, want %d", n, len(got), len(strings.Join(exp, "\n"))+1)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 5*time.Second, what, cond)
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// TestFollow follows a log as it grows, across a rotation, joining a
// line split over two writes, and stops once the container has exited and
// the file is drained.
func TestFollow(t *testing.T) {
	path := writeLog(t, criLog("stdout F old1", "stdout F old2"))
	lf, err := openLog(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.close()
	var running atomic.Bool
	running.Store(true)
	fw := &follower{poll: 5 * time.Millisecond, stateEvery: 5 * time.Millisecond,
		running: func(context.Context) bool { return running.Load() }}
	var out syncBuffer
	var flushes atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- lf.copyTo(context.Background(), &out, func() { flushes.Add(1) }, logOptions{follow: true, tail: 1, limit: -1}, fw)
	}()
	waitFor(t, "the tail", func() bool { return out.String() == "old2\n" })

	rec := func(s string) string { return t0.Format(time.RFC3339Nano) + " " + s + "\n" }
	appendFile(t, path, rec("stdout F new1"))
	waitFor(t, "an appended line", func() bool { return out.String() == "old2\nnew1\n" })
	// A record written in two pieces is printed once it is whole.
	full := rec("stdout F split")
	appendFile(t, path, full[:10])
	time.Sleep(20 * time.Millisecond)
	appendFile(t, path, full[10:])
	waitFor(t, "a record written in two pieces", func() bool { return out.String() == "old2\nnew1\nsplit\n" })

	// Rotation: the file is renamed and a new one takes its place; what
	// was still written to the old one is not lost.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", rec("stdout F last in old"))
	appendFile(t, path, rec("stdout F first in new"))
	waitFor(t, "the rotated log", func() bool {
		return out.String() == "old2\nnew1\nsplit\nlast in old\nfirst in new\n"
	})

	// The container exits after a last line: it is printed, then the copy ends.
	appendFile(t, path, rec("stderr F bye"))
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("following did not stop after the container exited")
	}
	if got, want := out.String(), "old2\nnew1\nsplit\nlast in old\nfirst in new\nbye\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if flushes.Load() == 0 {
		t.Error("following never flushed")
	}
}

// TestFollowStopsOnCancel ends a follow when the client goes away.
func TestFollowStopsOnCancel(t *testing.T) {
	path := writeLog(t, criLog("stdout F a"))
	lf, err := openLog(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.close()
	ctx, cancel := context.WithCancel(context.Background())
	fw := &follower{poll: 5 * time.Millisecond, stateEvery: time.Hour, running: func(context.Context) bool { return true }}
	done := make(chan error, 1)
	var out syncBuffer
	go func() { done <- lf.copyTo(ctx, &out, func() {}, logOptions{follow: true, tail: -1, limit: -1}, fw) }()
	waitFor(t, "the log", func() bool { return out.String() == "a\n" })
	cancel()
	select {
	case _ = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("following did not stop when the context ended")
	}
}

// TestFollowLimitBytes stops a follow at limitBytes.
func TestFollowLimitBytes(t *testing.T) {
	path := writeLog(t, criLog("stdout F abc"))
	lf, err := openLog(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.close()
	fw := &follower{poll: 5 * time.Millisecond, stateEvery: time.Hour, running: func(context.Context) bool { return true }}
	done := make(chan error, 1)
	var out syncBuffer
	go func() {
		done <- lf.copyTo(context.Background(), &out, func() {}, logOptions{follow: true, tail: -1, limit: 6}, fw)
	}()
	waitFor(t, "the log", func() bool { return out.String() == "abc\n" })
	appendFile(t, path, criLog("stdout F defgh"))
	select {
	case _ = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("following did not stop at limitBytes")
	}
	if got := out.String(); got != "abc\nde" {
		t.Errorf("got %q, want %q", got, "abc\nde")
	}
}

func TestParseLogOptions(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		query   string
		want    logOptions
		wantErr string
	}{
		{query: "", want: logOptions{tail: -1, limit: -1}},
		{query: "follow=true&previous=1&timestamps=true&tailLines=10&limitBytes=100",
			want: logOptions{follow: true, previous: true, timestamps: true, tail: 10, limit: 100}},
		{query: "follow=false&previous=0", want: logOptions{tail: -1, limit: -1}},
		{query: "tail=5", want: logOptions{tail: 5, limit: -1}},
		{query: "tail=all", want: logOptions{tail: -1, limit: -1}},
		{query: "sinceSeconds=60", want: logOptions{tail: -1, limit: -1, since: now.Add(-time.Minute)}},
		{query: "sinceTime=2024-05-01T11:00:00Z", want: logOptions{tail: -1, limit: -1, since: now.Add(-time.Hour)}},
		{query: "stream=Stderr", want: logOptions{tail: -1, limit: -1, stream: "stderr"}},
		{query: "tailLines=-1", wantErr: "must be greater than or equal to 0"},
		{query: "limitBytes=0", wantErr: "must be greater than 0"},
		{query: "sinceSeconds=0", wantErr: "must be greater than 0"},
		{query: "sinceSeconds=5&sinceTime=2024-05-01T11:00:00Z", wantErr: "at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{query: "tailLines=x", wantErr: "tailLines: invalid value"},
		{query: "sinceTime=noon", wantErr: "must be an RFC 3339 time"},
		{query: "stream=Both", wantErr: "Unsupported value"},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got, err := parseLogOptions(q, now)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tt.query, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.query, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.query, got, tt.want)
		}
	}
}
