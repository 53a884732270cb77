package apiserver

import (
	"context"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	corev1 "k8s.io/api/core/v1"
)

// Reader reads typed objects for admission plugins running inside the API
// server. Like Kubernetes' plugins, which read the server's own informers,
// it reads whatever state the watch cache holds (no wait for the newest
// write) and, for an object not found there, the newest state (as
// kube-apiserver's ServiceAccount and NamespaceLifecycle plugins look up a
// missing object live).
type Reader struct {
	objs *objects
	reg  *registry.Registry
}

// NewReader returns a Reader over store.
func NewReader(store storage.Store, reg *registry.Registry) *Reader {
	return &Reader{objs: &objects{store: store}, reg: reg}
}

// ServiceAccount returns namespace/name or a NotFound API error.
func (r *Reader) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	res, _ := r.reg.Lookup(corev1.SchemeGroupVersion.WithResource("serviceaccounts"))
	obj, err := r.objs.getRecent(ctx, res, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ServiceAccount), nil
}

// Secret returns namespace/name or a NotFound API error.
func (r *Reader) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	res, _ := r.reg.Lookup(corev1.SchemeGroupVersion.WithResource("secrets"))
	obj, err := r.objs.getRecent(ctx, res, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
}

// Secrets lists a namespace's secrets ("" for all namespaces).
func (r *Reader) Secrets(ctx context.Context, namespace string) ([]*corev1.Secret, error) {
	res, _ := r.reg.Lookup(corev1.SchemeGroupVersion.WithResource("secrets"))
	items, _, err := r.objs.list(ctx, res, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Secret, 0, len(items))
	for _, it := range items {
		out = append(out, it.(*corev1.Secret))
	}
	return out, nil
}

// Namespace returns name or a NotFound API error.
func (r *Reader) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	res, _ := r.reg.Lookup(corev1.SchemeGroupVersion.WithResource("namespaces"))
	obj, err := r.objs.getRecent(ctx, res, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Namespace), nil
}

// Pods lists a namespace's pods.
func (r *Reader) Pods(ctx context.Context, namespace string) ([]*corev1.Pod, error) {
	res, _ := r.reg.Lookup(corev1.SchemeGroupVersion.WithResource("pods"))
	items, _, err := r.objs.list(ctx, res, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(items))
	for _, it := range items {
		out = append(out, it.(*corev1.Pod))
	}
	return out, nil
}
