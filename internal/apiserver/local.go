package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers/internalinterfaces"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/watchcache"
)

// Informers inside the server's process (the controllers', the
// authorizers', the garbage collector's) would otherwise list and watch
// over HTTP/2 and TLS like any client: every event encoded to protobuf,
// written, read back and decoded into a new object per informer. A local
// source hands them the watch cache's own decoded objects instead — the
// ones gets, lists and watches already share — so an event costs neither
// an encoding nor a decoding, and an object in an informer's cache is not
// a second copy of the one in the watch cache. Informers treat what they
// hold as read-only (client-go's contract, which the upstream controllers
// keep); each object they get is a shallow copy, so that their transform
// (dropping managedFields) changes only their own.

// LocalSources builds informers on a watch cache. It reads through the
// server's own read path (the same objects, selectors and event
// translation); it needs no running server, so that informers built
// before the server (the authorizers') can use it.
type LocalSources struct {
	s *Server
}

// NewLocalSources returns the local sources of store's objects, or nil
// when store is not a watch cache (then informers go through the API).
// reg must be the server's registry: decoded objects are shared per
// resource of it.
func NewLocalSources(store storage.Store, reg *registry.Registry) *LocalSources {
	if _, ok := store.(sharedWatcher); !ok {
		return nil
	}
	if _, ok := store.(cachedStore); !ok {
		return nil
	}
	// Only the read side of a server: its store, registry and objects.
	return &LocalSources{s: &Server{cfg: Config{Store: store, Registry: reg}, reg: reg, objs: &objects{store: store}}}
}

// Informer returns what a factory's InformerFor takes to build the
// informer of gvr's objects on the watch cache, and the kind's object to
// register it for; false when gvr is not a stored resource.
func (ls *LocalSources) Informer(gvr schema.GroupVersionResource) (internalinterfaces.NewInformerFunc, runtime.Object, bool) {
	lw, ok := ls.ListerWatcher(gvr)
	if !ok {
		return nil, nil, false
	}
	obj := lw.res.New()
	return func(_ kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return cache.NewSharedIndexInformer(lw, obj, resync, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}, obj, true
}

// ListerWatcher lists and watches gvr's objects (all namespaces; the
// ListOptions' selectors apply) on the watch cache.
func (ls *LocalSources) ListerWatcher(gvr schema.GroupVersionResource) (*LocalSource, bool) {
	if ls == nil {
		return nil, false
	}
	res, ok := ls.s.cfg.Registry.Lookup(gvr)
	if !ok || res.NotStored || res.New == nil || res.NewList == nil {
		return nil, false
	}
	return &LocalSource{s: ls.s, res: res}, true
}

// LocalSource is a cache.ListerWatcher on the server's watch cache.
type LocalSource struct {
	s   *Server
	res *registry.Resource
}

var _ cache.ListerWatcherWithContext = (*LocalSource)(nil)

// IsWatchListSemanticsUnSupported makes the reflector list then watch:
// lists here cost no more than a streamed initial list.
func (*LocalSource) IsWatchListSemanticsUnSupported() bool { return true }

func (l *LocalSource) selector(opts metav1.ListOptions) (selector, error) {
	return newSelector(l.res, opts.LabelSelector, opts.FieldSelector)
}

// List implements cache.Lister.
func (l *LocalSource) List(opts metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), opts)
}

// ListWithContext lists at the options' resourceVersion, as the API's
// lists do (readRevision). The items are shallow copies of the cache's shared objects.
func (l *LocalSource) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	sel, err := l.selector(opts)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	if opts.ResourceVersionMatch != "" {
		q.Set("resourceVersionMatch", string(opts.ResourceVersionMatch))
	}
	minRev, err := readRevision(q)
	if err != nil {
		return nil, err
	}
	kvs, rev, err := l.s.selectKVs(ctx, l.res, "", sel, minRev)
	if err != nil {
		return nil, err
	}
	objs := make([]runtime.Object, 0, len(kvs))
	for _, kv := range kvs {
		obj, err := l.s.objs.shared(l.res, kv)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
	list := l.res.NewList()
	// SetList copies each object's struct into the list's items: the
	// items are the shallow copies the informer may change on top.
	if err := meta.SetList(list, objs); err != nil {
		return nil, err
	}
	if acc, err := meta.ListAccessor(list); err == nil {
		acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
	return list, nil
}

// Watch implements cache.Watcher.
func (l *LocalSource) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), opts)
}

// WatchWithContext watches from the options' resourceVersion, as the
// HTTP watch does: "" or "0" first sends the current objects as ADDED, a
// revision older than the cache's history ends in a 410 Expired error
// event (the reflector lists again), and bookmarks come every
// bookmarkInterval when allowed.
func (l *LocalSource) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	sel, err := l.selector(opts)
	if err != nil {
		return nil, err
	}
	var fromRev int64
	rv := opts.ResourceVersion
	if rv != "" && rv != "0" {
		if fromRev, err = strconv.ParseInt(rv, 10, 64); err != nil {
			return nil, fmt.Errorf("watching %s: invalid resource version %q", l.res.Name, rv)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var initial []storage.KeyValue
	if rv == "" || rv == "0" {
		minRev := watchcache.Consistent
		if rv == "0" {
			minRev = 0
		}
		if initial, fromRev, err = l.s.selectKVs(ctx, l.res, "", sel, minRev); err != nil {
			cancel()
			return nil, err
		}
	}
	events, err := l.s.watchEvents(ctx, cancel, listPrefix(l.res, ""), fromRev, "local:"+l.res.Name)
	if err != nil {
		cancel()
		return nil, err
	}
	timeout := time.Duration(0)
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	w := &localWatch{result: make(chan watch.Event), cancel: cancel}
	go w.run(ctx, l, sel, initial, events, fromRev, timeout, opts.AllowWatchBookmarks)
	return w, nil
}

// localWatch is one informer's watch on the cache.
type localWatch struct {
	result chan watch.Event
	cancel context.CancelFunc
}

func (w *localWatch) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch; its result channel is closed soon after.
func (w *localWatch) Stop() { w.cancel() }

func (w *localWatch) run(ctx context.Context, l *LocalSource, sel selector, initial []storage.KeyValue,
	events <-chan *storage.Event, fromRev int64, timeout time.Duration, bookmarks bool) {
	lastRev := fromRev
	defer close(w.result)
	defer w.cancel()
	send := func(t watch.EventType, obj runtime.Object) bool {
		select {
		case w.result <- watch.Event{Type: t, Object: obj}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	sendKV := func(t watch.EventType, kv storage.KeyValue, memo *storage.Memo, rev int64) bool {
		obj, err := l.s.objs.sharedAt(l.res, kv, memo, rev)
		if err != nil {
			return send(watch.Error, &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
				Reason: metav1.StatusReasonInternalError, Message: err.Error()})
		}
		return send(t, shallowCopy(obj))
	}
	for _, kv := range initial {
		if !sendKV(watch.Added, kv, kv.Memo, kv.Revision) {
			return
		}
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	var tick <-chan time.Time
	if bookmarks {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-tick:
			if !send(watch.Bookmark, l.s.bookmark(l.res, lastRev, false)) {
				return
			}
		case ev, ok := <-events:
			if !ok {
				return // fell behind or the cache re-listed: the reflector watches again
			}
			if ev.Type == storage.EventError {
				send(watch.Error, watchErrorStatus(ev.Err, fromRev))
				return
			}
			lastRev = ev.Revision
			t, kv, memo := l.s.translate(l.res, sel, *ev)
			if t == "" {
				continue
			}
			if !sendKV(t, kv, memo, ev.Revision) {
				return
			}
		}
	}
}

// shallowCopy is a new struct with obj's fields: its maps, slices and
// pointers are still shared, read-only, with the watch cache.
func shallowCopy(obj runtime.Object) runtime.Object {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return obj
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	if out, ok := cp.Interface().(runtime.Object); ok {
		return out
	}
	return obj
}

// WithOptions is l with tweak applied to every list's and watch's
// options, as client-go's filtered informers apply theirs (a field
// selector, say).
func (l *LocalSource) WithOptions(tweak func(*metav1.ListOptions)) cache.ListerWatcher {
	return &tweakedSource{l: l, tweak: tweak}
}

type tweakedSource struct {
	l     *LocalSource
	tweak func(*metav1.ListOptions)
}

func (t *tweakedSource) List(opts metav1.ListOptions) (runtime.Object, error) {
	return t.ListWithContext(context.Background(), opts)
}

func (t *tweakedSource) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	t.tweak(&opts)
	return t.l.ListWithContext(ctx, opts)
}

func (t *tweakedSource) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return t.WatchWithContext(context.Background(), opts)
}

func (t *tweakedSource) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	t.tweak(&opts)
	return t.l.WatchWithContext(ctx, opts)
}

func (*tweakedSource) IsWatchListSemanticsUnSupported() bool { return true }
