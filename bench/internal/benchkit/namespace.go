package benchkit

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PrepareNamespace creates the namespace and makes sure its "default"
// service account exists (pods are rejected without it): berth's
// controller creates it; if none does within a few seconds, the benchmark
// does.
func PrepareNamespace(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	sas := cs.CoreV1().ServiceAccounts(namespace)
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := sas.Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("getting service account %s/default: %w", namespace, err)
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := sas.Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating service account %s/default: %w", namespace, err)
	}
	return nil
}

// DeleteAllPods deletes the pods of namespace and waits until they are
// gone from the API.
func DeleteAllPods(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	pods := cs.CoreV1().Pods(namespace)
	l, err := pods.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || (err == nil && len(l.Items) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range l.Items {
		if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting pod %s: %w", p.Name, err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			n := -1
			if l != nil {
				n = len(l.Items)
			}
			return fmt.Errorf("%d pods still there 90s after their deletion (%v); removing their sandboxes through CRI", n, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
