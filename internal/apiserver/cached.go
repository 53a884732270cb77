package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/watchcache"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// cachedStore is a store that also serves reads at a resourceVersion from
// memory (watchcache.Cache). Without one, every read is a consistent read
// of the store, which satisfies every resourceVersion a client can ask for
// but "Exact".
type cachedStore interface {
	GetAt(ctx context.Context, key string, minRev int64) (storage.KeyValue, error)
	ListAt(ctx context.Context, prefix string, minRev int64) ([]storage.KeyValue, int64, error)
}

// readRevision maps a get's or list's resourceVersion to the cache's
// minimum revision, with Kubernetes' semantics: unset is a consistent read
// (the newest state), "0" any state the server holds, N a state not older
// than N. resourceVersionMatch=Exact is served as a consistent read (berth
// cannot read a past revision; see docs/design.md).
func readRevision(q url.Values) (int64, error) {
	rv := q.Get("resourceVersion")
	match := q.Get("resourceVersionMatch")
	switch match {
	case "", string(metav1.ResourceVersionMatchNotOlderThan), string(metav1.ResourceVersionMatchExact):
	default:
		return 0, badRequest("resourceVersionMatch: Unsupported value: %q: supported values: %q, %q",
			match, metav1.ResourceVersionMatchExact, metav1.ResourceVersionMatchNotOlderThan)
	}
	if match != "" && rv == "" {
		return 0, badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	switch {
	case rv == "":
		return watchcache.Consistent, nil
	case rv == "0":
		if match == string(metav1.ResourceVersionMatchExact) {
			return 0, badRequest(`resourceVersionMatch "exact" is forbidden for resourceVersion "0"`)
		}
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("invalid resource version %q", rv)
	}
	if match == string(metav1.ResourceVersionMatchExact) {
		return watchcache.Consistent, nil
	}
	return n, nil
}

// readErr maps storage errors of a read to API errors.
func readErr(r *registry.Resource, name string, err error) error {
	var tl *watchcache.TooLargeError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(r.GVR().GroupResource(), name)
	case errors.As(err, &tl):
		// As kube-apiserver: 504 with a ResourceVersionTooLarge cause, so
		// clients retry.
		st := apierrors.NewTimeoutError(tl.Error(), 1)
		st.ErrStatus.Details.Causes = append(st.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"})
		return st
	}
	return err
}

// getKV reads one object's stored value at minRev (see readRevision).
func (o *objects) getKV(ctx context.Context, r *registry.Resource, namespace, name string, minRev int64) (storage.KeyValue, error) {
	key := objectKey(r, namespace, name)
	var kv storage.KeyValue
	var err error
	if c, ok := o.store.(cachedStore); ok {
		kv, err = c.GetAt(ctx, key, minRev)
	} else {
		kv, err = o.store.Get(ctx, key)
	}
	if err != nil {
		return storage.KeyValue{}, readErr(r, name, err)
	}
	return kv, nil
}

// listKVs reads the stored values of a namespace's objects ("" for all)
// at minRev, and the revision they reflect.
func (o *objects) listKVs(ctx context.Context, r *registry.Resource, namespace string, minRev int64) ([]storage.KeyValue, int64, error) {
	prefix := listPrefix(r, namespace)
	var kvs []storage.KeyValue
	var rev int64
	var err error
	if c, ok := o.store.(cachedStore); ok {
		kvs, rev, err = c.ListAt(ctx, prefix, minRev)
	} else {
		kvs, rev, err = o.store.List(ctx, prefix)
	}
	if err != nil {
		return nil, 0, readErr(r, "", err)
	}
	if r.Namespaced && namespace == "" {
		// Other resources whose names extend this one's share the prefix
		// only by accident: keep keys of the form <namespace>/<name>.
		out := kvs[:0:0]
		for _, kv := range kvs {
			if strings.Count(strings.TrimPrefix(kv.Key, prefix), "/") == 1 {
				out = append(out, kv)
			}
		}
		kvs = out
	}
	return kvs, rev, nil
}

// decodedKey is the memo key of a value decoded as a resource's object.
type decodedKey struct{ r *registry.Resource }

// shared decodes kv once for every reader of this value (when the store
// memoizes): the object is shared, so callers must never modify it.
func (o *objects) shared(r *registry.Resource, kv storage.KeyValue) (runtime.Object, error) {
	v, err := kv.Memo.Get(decodedKey{r}, func() (any, error) { return o.decode(r, kv.Value, kv.Revision) })
	if err != nil {
		return nil, err
	}
	return v.(runtime.Object), nil
}

// sharedAt is shared for a value seen at another revision than its own
// (a deletion, or an object leaving a watch's selector): a shallow copy
// with that resourceVersion.
func (o *objects) sharedAt(r *registry.Resource, kv storage.KeyValue, memo *storage.Memo, rev int64) (runtime.Object, error) {
	kv.Memo = memo
	obj, err := o.shared(r, kv)
	if err != nil || kv.Revision == rev {
		return obj, err
	}
	cp := obj.DeepCopyObject()
	setResourceVersion(cp, rev)
	return cp, nil
}

var metadataOpen = []byte(`"metadata":{`)

// appendWithResourceVersion appends the stored JSON value with its
// resourceVersion added: what json.Marshal of the decoded object would
// write, without decoding. It reports false when the value is not in the
// shape the server stores (metadata with at least one field).
func appendWithResourceVersion(dst, value []byte, rev int64) ([]byte, bool) {
	i := metadataFields(value)
	if i < 0 {
		return dst, false
	}
	dst = append(dst, value[:i]...)
	dst = append(dst, `"resourceVersion":"`...)
	dst = strconv.AppendInt(dst, rev, 10)
	dst = append(dst, `",`...)
	return append(dst, value[i:]...), true
}

// metadataFields is where the fields of value's metadata start, or -1
// when value is not in the shape the server stores.
func metadataFields(value []byte) int {
	i := bytes.Index(value, metadataOpen)
	if i < 0 || i+len(metadataOpen) >= len(value) || value[i+len(metadataOpen)] == '}' {
		return -1
	}
	return i + len(metadataOpen)
}

// appendObjectJSON appends kv as the API writes it in JSON.
func (o *objects) appendObjectJSON(dst []byte, r *registry.Resource, kv storage.KeyValue, rev int64) ([]byte, error) {
	if out, ok := appendWithResourceVersion(dst, kv.Value, rev); ok {
		return out, nil
	}
	obj, err := o.sharedAt(r, kv, kv.Memo, rev)
	if err != nil {
		return dst, err
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return dst, err
	}
	return append(dst, data...), nil
}

// writeRawJSON writes an already encoded JSON body.
func writeRawJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
