package apiserver

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// Pod returns namespace/name or a NotFound API error.
func (r *Reader) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	res, _ := r.reg.Lookup(corev1.SchemeGroupVersion.WithResource("pods"))
	obj, err := r.objs.get(ctx, res, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

// Node returns the named node or a NotFound API error.
func (r *Reader) Node(ctx context.Context, name string) (*corev1.Node, error) {
	res, _ := r.reg.Lookup(corev1.SchemeGroupVersion.WithResource("nodes"))
	obj, err := r.objs.get(ctx, res, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}
