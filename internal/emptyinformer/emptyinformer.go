// Package emptyinformer makes informers of kinds berth does not serve
// (PersistentVolumes, claims, VolumeAttachments, ReplicationControllers):
// upstream controllers and authorizers ask a factory for them, and an
// informer listing an API berth lacks would retry forever and never sync.
// These list nothing, watch without ever sending an event, and sync at once.
package emptyinformer

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers/internalinterfaces"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// For returns what a factory's InformerFor takes to serve obj's kind from
// an empty source; list is the kind's list type. Register it before
// anything asks the factory for the kind:
//
//	f.InformerFor(&corev1.PersistentVolume{}, emptyinformer.For(&corev1.PersistentVolume{}, &corev1.PersistentVolumeList{}))
func For(obj, list runtime.Object) internalinterfaces.NewInformerFunc {
	return func(kubernetes.Interface, time.Duration) cache.SharedIndexInformer {
		return cache.NewSharedIndexInformer(source{list: list}, obj, 0,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
}

type source struct{ list runtime.Object }

func (s source) List(metav1.ListOptions) (runtime.Object, error) {
	l := s.list.DeepCopyObject()
	if acc, ok := l.(metav1.ListInterface); ok {
		acc.SetResourceVersion("1")
	}
	return l, nil
}

func (source) Watch(metav1.ListOptions) (watch.Interface, error) { return watch.NewFake(), nil }

// IsWatchListSemanticsUnSupported makes the reflector list then watch,
// rather than wait for a streamed initial list this source never sends.
func (source) IsWatchListSemanticsUnSupported() bool { return true }
