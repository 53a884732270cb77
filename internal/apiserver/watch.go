package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/watchcache"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// A watch's events wait in a queue of watchQueueLen between the store and
// the client. When the client stops reading and the queue stays full for
// the server's WatchStallTimeout, the watch is closed, as kube-apiserver's
// watch cache closes an unresponsive watcher: client-go then re-watches
// from its last resourceVersion. Without this, etcd's client would buffer
// every event for a stalled reader without bound.
const (
	watchQueueLen            = 1000
	defaultWatchStallTimeout = 10 * time.Second
)

// bookmarkInterval is how often a watch that allows bookmarks gets one.
const bookmarkInterval = 15 * time.Second

// initialEventsEndAnnotation marks the bookmark that ends the initial
// events of a sendInitialEvents watch (the WatchList protocol).
const initialEventsEndAnnotation = "k8s.io/initial-events-end"

type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// serveWatch streams changes as JSON watch events, one per line.
//
// resourceVersion "" or "0" (or sendInitialEvents=true) first sends the
// current objects as ADDED; a positive resourceVersion resumes after it,
// and one older than the compacted history gets an ERROR event with a 410
// Status, which client-go answers with a fresh list.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, info requestInfo) {
	q := r.URL.Query()
	sel, err := parseSelectors(r, info.res, info.name)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := negotiate(r.Header.Get("Accept"), hasProtobuf(info.res))
	if err != nil {
		writeError(w, err)
		return
	}
	rvParam := q.Get("resourceVersion")
	var fromRev int64
	if rvParam != "" && rvParam != "0" {
		fromRev, err = strconv.ParseInt(rvParam, 10, 64)
		if err != nil {
			writeError(w, badRequest("invalid resource version %q", rvParam))
			return
		}
	}
	sendInitial := rvParam == "" || rvParam == "0"
	if v := q.Get("sendInitialEvents"); v != "" {
		sendInitial = isTrue(v)
	}
	bookmarks := isTrue(q.Get("allowWatchBookmarks"))
	// As kube-apiserver: a random time in [min-request-timeout, 2×min).
	timeout := minRequestTimeout + time.Duration(rand.Int64N(int64(minRequestTimeout)))
	if v := q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, badRequest("invalid timeoutSeconds %q", v))
			return
		}
		timeout = time.Duration(n) * time.Second
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var initial []storage.KeyValue
	if sendInitial {
		// "" starts from a consistent list, "0" from any state the server
		// holds, as Kubernetes.
		minRev := watchcache.Consistent
		if rvParam == "0" {
			minRev = 0
		}
		initial, fromRev, err = s.selectKVs(ctx, info.res, info.namespace, sel, minRev)
		if err != nil {
			writeError(w, err)
			return
		}
	}
	events, err := s.watchEvents(ctx, cancel, listPrefix(info.res, info.namespace), fromRev, r.URL.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	rc := http.NewResponseController(w)
	flusher, _ := w.(http.Flusher)
	if out == outProtobuf {
		w.Header().Set("Content-Type", protobufWatchType)
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		// client-go's Watch returns only once it has the headers.
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	// A client that stops reading blocks a write (HTTP/2 flow control, a
	// full socket): the stall watchdog then sets a write deadline in the
	// past, which fails the write and ends the watch instead of holding
	// its events forever. No deadline is set otherwise: a quiet watch is
	// not a stalled one, and setting one per write would cost the HTTP/2
	// connection's goroutine two messages and a timer per event.
	var stalled atomic.Bool
	stall := newStallWatchdog(s.cfg.WatchStallTimeout, func() {
		// Logged here, not when the write fails: over HTTP/2 the failed
		// write also cancels the request's context, which would read as
		// a client that went away.
		// It fires once: the write it cuts ends the watch.
		stalled.Store(true)
		s.log.Warn("closing a watch whose client stopped reading", "path", r.URL.Path,
			"reason", "a write blocked for the stall timeout", "timeout", s.cfg.WatchStallTimeout)
		_ = rc.SetWriteDeadline(time.Now())
	})
	defer stall.stop()
	// write sends one encoded event.
	write := func(encode func() error) error {
		stall.begin()
		err := encode()
		if err == nil {
			if err = rc.Flush(); errors.Is(err, http.ErrNotSupported) {
				err = nil
			}
		}
		stall.end()
		if err != nil {
			if !stalled.Load() && r.Context().Err() == nil {
				s.log.Warn("closing a watch whose write failed", "path", r.URL.Path, "err", err)
			}
			return err
		}
		return nil
	}
	// sendKV sends a stored value as an event: JSON objects are written
	// from the stored bytes, framed once per event for all watchers.
	var send func(t watch.EventType, obj runtime.Object) error
	// Frames are memoized for live events only: an initial event's frame
	// would stay in the cache's entry for nothing.
	sendKV := func(t watch.EventType, kv storage.KeyValue, memo *storage.Memo, rev int64, live bool) error {
		frames := memo
		if !live {
			frames = nil
		}
		if out == outProtobuf {
			v, err := frames.Get(protoEventKey{info.res, t, rev}, func() (any, error) {
				var body []byte
				var err error
				if memo == kv.Memo && rev == kv.Revision {
					var raw []byte
					if raw, err = s.objs.protoItem(info.res, kv); err == nil {
						body, err = protoEnvelope(info.res.GroupVersion.String(), info.res.Kind, raw)
					}
				} else {
					var obj runtime.Object
					if obj, err = s.objs.sharedAt(info.res, kv, memo, rev); err == nil {
						body, err = s.protoObject(obj)
					}
				}
				if err != nil {
					return nil, err
				}
				return protoWatchFrame(t, body)
			})
			if err != nil {
				return err
			}
			return write(func() error { _, err := w.Write(v.([]byte)); return err })
		}
		if out == outObject {
			v, err := frames.Get(frameKey{info.res, t, rev}, func() (any, error) {
				b := append(make([]byte, 0, len(kv.Value)+96), `{"type":"`...)
				b = append(b, t...)
				b = append(b, `","object":`...)
				b, err := s.objs.appendObjectJSON(b, info.res, kv, rev)
				return append(b, "}\n"...), err
			})
			if err != nil {
				return err
			}
			return write(func() error { _, err := w.Write(v.([]byte)); return err })
		}
		obj, err := s.objs.sharedAt(info.res, kv, memo, rev)
		if err != nil {
			return err
		}
		return send(t, obj)
	}
	send = func(t watch.EventType, obj runtime.Object) error {
		if out == outProtobuf {
			body, err := s.protoObject(obj)
			if err == nil {
				body, err = protoWatchFrame(t, body)
			}
			if err != nil {
				return err
			}
			return write(func() error { _, err := w.Write(body); return err })
		}
		var payload any = obj
		switch {
		case t == watch.Error:
		case out == outPartialMetadata:
			// Bookmarks too: a metadata client decodes nothing else.
			payload = partialMetadata(info.res, obj)
		case t == watch.Bookmark:
		case out == outTable:
			tbl, err := toTable(info.res, obj, q.Get("includeObject"))
			if err != nil {
				return err
			}
			payload = tbl
		}
		return write(func() error { return enc.Encode(watchEvent{Type: t, Object: payload}) })
	}
	lastRev := fromRev
	for _, kv := range initial {
		if sendKV(watch.Added, kv, kv.Memo, kv.Revision, false) != nil {
			return
		}
	}
	if sendInitial && bookmarks && q.Get("sendInitialEvents") != "" {
		if send(watch.Bookmark, s.bookmark(info.res, lastRev, true)) != nil {
			return
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(bookmarkInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
			if bookmarks && send(watch.Bookmark, s.bookmark(info.res, lastRev, false)) != nil {
				return
			}
		case ev, ok := <-events:
			if !ok {
				// The store ended the watch: the reader fell a full
				// buffer behind (the watch cache logs it) or the cache
				// re-listed. The client watches again from its last
				// revision.
				return
			}
			if ev.Type == storage.EventError {
				_ = send(watch.Error, watchErrorStatus(ev.Err, fromRev))
				return
			}
			t, kv, memo := s.translate(info.res, sel, *ev)
			lastRev = ev.Revision
			if t == "" {
				continue
			}
			if sendKV(t, kv, memo, ev.Revision, true) != nil {
				return
			}
		}
	}
}

// sharedWatcher is a store whose watches hand out its own events from a
// bounded buffer, closing the channel of a reader that falls behind (the
// watch cache).
type sharedWatcher interface {
	WatchShared(ctx context.Context, prefix string, fromRevision int64) (<-chan *storage.Event, error)
}

// watchEvents watches the store. The watch cache's channel is read as it
// is: it is bounded already. Any other store's watch goes through the
// server's bounded queue, which notices a client that stopped reading.
func (s *Server) watchEvents(ctx context.Context, cancel context.CancelFunc, prefix string, fromRev int64, path string) (<-chan *storage.Event, error) {
	if sw, ok := s.cfg.Store.(sharedWatcher); ok {
		return sw.WatchShared(ctx, prefix, fromRev)
	}
	stored, err := s.cfg.Store.Watch(ctx, prefix, fromRev)
	if err != nil {
		return nil, err
	}
	return s.watchQueue(ctx, cancel, stored, path), nil
}

// stallWatchdog calls fire when a write has been in progress for the
// stall timeout. One timer, re-armed per write; the state is under a
// mutex so that a timer firing late (for a write that ended) or after
// stop does nothing: fire runs only for a write still in progress for
// the whole timeout, and never once stop has returned.
type stallWatchdog struct {
	d     time.Duration
	fire  func()
	timer *time.Timer

	mu      sync.Mutex
	writing bool
	started time.Time // of the write in progress
	stopped bool
}

func newStallWatchdog(d time.Duration, fire func()) *stallWatchdog {
	wd := &stallWatchdog{d: d, fire: fire}
	wd.timer = time.AfterFunc(d, wd.check)
	wd.timer.Stop()
	return wd
}

func (wd *stallWatchdog) check() {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if wd.writing && !wd.stopped && time.Since(wd.started) >= wd.d {
		wd.fire()
	}
}

// begin arms the watchdog for a write; end disarms it.
func (wd *stallWatchdog) begin() {
	wd.mu.Lock()
	wd.writing, wd.started = true, time.Now()
	wd.mu.Unlock()
	wd.timer.Reset(wd.d)
}

func (wd *stallWatchdog) end() {
	wd.timer.Stop()
	wd.mu.Lock()
	wd.writing = false
	wd.mu.Unlock()
}

// stop disarms the watchdog for good.
func (wd *stallWatchdog) stop() {
	wd.mu.Lock()
	wd.stopped = true
	wd.mu.Unlock()
	wd.timer.Stop()
}

// watchQueue moves the store's events into a bounded queue. If the queue
// stays full for the stall timeout, the client is not reading: the watch
// is cancelled (which ends the store's watch and frees what it buffered)
// and the queue closed, so the handler ends.
func (s *Server) watchQueue(ctx context.Context, cancel context.CancelFunc, in <-chan storage.Event, path string) <-chan *storage.Event {
	out := make(chan *storage.Event, watchQueueLen)
	go func() {
		defer close(out)
		defer func() {
			for range in { // until the store's watch sees the cancel
			}
		}()
		var stall *time.Timer
		defer func() {
			if stall != nil {
				stall.Stop()
			}
		}()
		for ev := range in {
			select {
			case out <- &ev:
				continue
			default:
			}
			if stall == nil {
				stall = time.NewTimer(s.cfg.WatchStallTimeout)
			} else {
				stall.Reset(s.cfg.WatchStallTimeout)
			}
			select {
			case out <- &ev:
				stall.Stop()
			case <-stall.C:
				s.log.Warn("closing a watch whose client stopped reading", "path", path, "queued", len(out))
				cancel()
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// frameKey is the memo key of one event encoded as a JSON watch line.
type frameKey struct {
	r   *registry.Resource
	t   watch.EventType
	rev int64
}

// translate maps a storage event to a watch event for this selector: its
// type and the stored value (with its memo) it carries, or "" when this
// watcher does not see it. An object that stops matching is DELETED for
// this watcher, one that starts matching is ADDED, as in Kubernetes.
func (s *Server) translate(res *registry.Resource, sel selector, ev storage.Event) (watch.EventType, storage.KeyValue, *storage.Memo) {
	cur := storage.KeyValue{Key: ev.Key, Value: ev.Value, Revision: ev.Revision, Memo: ev.Memo}
	prev := storage.KeyValue{Key: ev.Key, Value: ev.PrevValue, Revision: ev.Revision, Memo: ev.PrevMemo}
	all := sel.labels.Empty() && sel.fields.Empty()
	matches := func(kv storage.KeyValue, memo *storage.Memo) bool {
		if kv.Value == nil {
			return false
		}
		if all {
			return true
		}
		// The memo of a value decodes it at its own revision: fine for
		// matching, which does not look at the resourceVersion.
		obj, err := s.objs.sharedAt(res, kv, memo, kv.Revision)
		return err == nil && sel.matches(res, obj)
	}
	switch ev.Type {
	case storage.EventCreated:
		if matches(cur, ev.Memo) {
			return watch.Added, cur, ev.Memo
		}
	case storage.EventDeleted:
		if matches(cur, ev.Memo) {
			return watch.Deleted, cur, ev.Memo
		}
	case storage.EventModified:
		curOK := matches(cur, ev.Memo)
		switch {
		case curOK && (all || matches(prev, nil)):
			return watch.Modified, cur, ev.Memo
		case curOK:
			return watch.Added, cur, ev.Memo
		case matches(prev, nil):
			// The previous value, at this event's revision: its memo holds
			// it at its own, so it is not shared.
			return watch.Deleted, prev, nil
		}
	}
	return "", storage.KeyValue{}, nil
}

// watchErrorStatus is the ERROR event's Status for a watch from fromRev
// that the store ended with err: 410 Expired with kube-apiserver's "too
// old resource version" text when the history no longer reaches fromRev
// (client-go then lists again), 500 otherwise.
func watchErrorStatus(err error, fromRev int64) *metav1.Status {
	st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError, Message: fmt.Sprint(err)}
	var ce *storage.CompactedError
	switch {
	case errors.As(err, &ce):
		st.Code, st.Reason = http.StatusGone, metav1.StatusReasonExpired
		st.Message = fmt.Sprintf("too old resource version: %d (%d)", fromRev, ce.Oldest)
	case errors.Is(err, storage.ErrCompacted):
		st.Code, st.Reason = http.StatusGone, metav1.StatusReasonExpired
		st.Message = fmt.Sprintf("too old resource version: %d", fromRev)
	}
	return st
}

func (s *Server) bookmark(res *registry.Resource, rev int64, initialEnd bool) runtime.Object {
	obj := res.New()
	setTypeMeta(res, obj)
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{initialEventsEndAnnotation: "true"})
	}
	return obj
}
