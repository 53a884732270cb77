package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/watchcache"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// objects stores typed API objects as JSON under
// /registry/<group-prefixed resource>/<namespace>/<name>. The stored bytes
// never carry a resourceVersion: it is the etcd mod revision, set on read.
type objects struct {
	store storage.Store
	// eventTTL is how long an event lives after its last write (as
	// kube-apiserver's --event-ttl), if the store can expire keys.
	eventTTL time.Duration
	// decodes counts decoded objects (tests check deletes do not decode
	// whole namespaces).
	decodes atomic.Int64
}

// ttl is the time to live of r's objects: events expire, others not.
func (o *objects) ttl(r *registry.Resource) (storage.Expiring, time.Duration) {
	if r.Name != "events" || o.eventTTL <= 0 {
		return nil, 0
	}
	exp, ok := o.store.(storage.Expiring)
	if !ok {
		return nil, 0
	}
	return exp, o.eventTTL
}

func resourcePrefix(r *registry.Resource) string {
	if r.GroupVersion.Group == "" {
		return "/registry/" + r.Name + "/"
	}
	return "/registry/" + r.GroupVersion.Group + "/" + r.Name + "/"
}

// key is the storage key of one object.
func objectKey(r *registry.Resource, namespace, name string) string {
	if r.Namespaced {
		return resourcePrefix(r) + namespace + "/" + name
	}
	return resourcePrefix(r) + name
}

// listPrefix is the key prefix of a namespace's objects, or of all.
func listPrefix(r *registry.Resource, namespace string) string {
	if r.Namespaced && namespace != "" {
		return resourcePrefix(r) + namespace + "/"
	}
	return resourcePrefix(r)
}

func (o *objects) decode(r *registry.Resource, data []byte, rev int64) (runtime.Object, error) {
	o.decodes.Add(1)
	obj := r.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decoding stored %s: %w", r.Name, err)
	}
	setTypeMeta(r, obj)
	setResourceVersion(obj, rev)
	return obj, nil
}

func (o *objects) encode(r *registry.Resource, obj runtime.Object) ([]byte, error) {
	setTypeMeta(r, obj)
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	data, err := json.Marshal(obj)
	m.SetResourceVersion(rv)
	return data, err
}

func setTypeMeta(r *registry.Resource, obj runtime.Object) {
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
}

func setResourceVersion(obj runtime.Object, rev int64) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
}

// get returns a stored object the caller owns (may modify).
func (o *objects) get(ctx context.Context, r *registry.Resource, namespace, name string) (runtime.Object, error) {
	kv, err := o.getKV(ctx, r, namespace, name, watchcache.Consistent)
	if err != nil {
		return nil, err
	}
	return o.owned(r, kv)
}

// getRecent is get from whatever state the watch cache holds (Kubernetes'
// resourceVersion "0", what informers see), falling back to the newest
// state when the object is not there: for admission, which Kubernetes
// serves from informers.
func (o *objects) getRecent(ctx context.Context, r *registry.Resource, namespace, name string) (runtime.Object, error) {
	kv, err := o.getKV(ctx, r, namespace, name, 0)
	if apierrors.IsNotFound(err) {
		kv, err = o.getKV(ctx, r, namespace, name, watchcache.Consistent)
	}
	if err != nil {
		return nil, err
	}
	return o.owned(r, kv)
}

// owned is kv's object for a caller that may modify it: a deep copy of
// the shared decoded value (cheaper than decoding again), or a fresh
// decode when the store does not memoize.
func (o *objects) owned(r *registry.Resource, kv storage.KeyValue) (runtime.Object, error) {
	if kv.Memo == nil {
		return o.decode(r, kv.Value, kv.Revision)
	}
	obj, err := o.shared(r, kv)
	if err != nil {
		return nil, err
	}
	return obj.DeepCopyObject(), nil
}

// list returns the objects of a namespace ("" for all), which the caller
// owns, and the store revision the list reflects.
func (o *objects) list(ctx context.Context, r *registry.Resource, namespace string) ([]runtime.Object, int64, error) {
	kvs, rev, err := o.listKVs(ctx, r, namespace, watchcache.Consistent)
	if err != nil {
		return nil, 0, err
	}
	out := make([]runtime.Object, 0, len(kvs))
	for _, kv := range kvs {
		obj, err := o.owned(r, kv)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, obj)
	}
	return out, rev, nil
}

// listReferencing returns the objects of a namespace whose stored JSON
// holds uid: the candidates for owner references to it. Only those are
// decoded, so deleting one object does not decode the whole namespace.
func (o *objects) listReferencing(ctx context.Context, r *registry.Resource, namespace string, uid types.UID) ([]runtime.Object, error) {
	kvs, _, err := o.store.List(ctx, listPrefix(r, namespace))
	if err != nil {
		return nil, err
	}
	needle := []byte(`"` + string(uid) + `"`)
	var out []runtime.Object
	for _, kv := range kvs {
		if uid == "" || !bytes.Contains(kv.Value, needle) {
			continue
		}
		obj, err := o.decode(r, kv.Value, kv.Revision)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

func (o *objects) create(ctx context.Context, r *registry.Resource, obj runtime.Object) (runtime.Object, error) {
	out, _, err := o.createStored(ctx, r, obj)
	return out, err
}

// createStored is create, also returning the bytes stored: the JSON
// answer but for the resourceVersion (see appendWithResourceVersion).
func (o *objects) createStored(ctx context.Context, r *registry.Resource, obj runtime.Object) (runtime.Object, []byte, error) {
	m, _ := meta.Accessor(obj)
	data, err := o.encode(r, obj)
	if err != nil {
		return nil, nil, err
	}
	key := objectKey(r, m.GetNamespace(), m.GetName())
	var rev int64
	if exp, ttl := o.ttl(r); exp != nil {
		rev, err = exp.CreateWithTTL(ctx, key, data, ttl)
	} else {
		rev, err = o.store.Create(ctx, key, data)
	}
	if errors.Is(err, storage.ErrExists) {
		return nil, nil, apierrors.NewAlreadyExists(r.GVR().GroupResource(), m.GetName())
	}
	if err != nil {
		return nil, nil, err
	}
	setResourceVersion(obj, rev)
	return obj, data, nil
}

// update writes obj if the stored mod revision is still rev.
func (o *objects) update(ctx context.Context, r *registry.Resource, obj runtime.Object, rev int64) (runtime.Object, error) {
	out, _, err := o.updateStored(ctx, r, obj, rev)
	return out, err
}

// updateStored is update, also returning the bytes stored.
func (o *objects) updateStored(ctx context.Context, r *registry.Resource, obj runtime.Object, rev int64) (runtime.Object, []byte, error) {
	m, _ := meta.Accessor(obj)
	data, err := o.encode(r, obj)
	if err != nil {
		return nil, nil, err
	}
	key := objectKey(r, m.GetNamespace(), m.GetName())
	var newRev int64
	if exp, ttl := o.ttl(r); exp != nil {
		newRev, err = exp.UpdateWithTTL(ctx, key, data, rev, ttl)
	} else {
		newRev, err = o.store.Update(ctx, key, data, rev)
	}
	switch {
	case errors.Is(err, storage.ErrConflict):
		return nil, nil, conflict(r, m.GetName())
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil, apierrors.NewNotFound(r.GVR().GroupResource(), m.GetName())
	case err != nil:
		return nil, nil, err
	}
	setResourceVersion(obj, newRev)
	return obj, data, nil
}

func (o *objects) remove(ctx context.Context, r *registry.Resource, namespace, name string, rev int64) (runtime.Object, error) {
	kv, delRev, err := o.store.Delete(ctx, objectKey(r, namespace, name), rev)
	switch {
	case errors.Is(err, storage.ErrConflict):
		return nil, conflict(r, name)
	case errors.Is(err, storage.ErrNotFound):
		return nil, apierrors.NewNotFound(r.GVR().GroupResource(), name)
	case err != nil:
		return nil, err
	}
	return o.decode(r, kv.Value, delRev)
}

func conflict(r *registry.Resource, name string) error {
	return apierrors.NewConflict(r.GVR().GroupResource(), name,
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

func revisionOf(obj runtime.Object) int64 {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0
	}
	rev, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	return rev
}
