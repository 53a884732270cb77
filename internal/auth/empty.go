package auth

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corev1informers "k8s.io/client-go/informers/core/v1"
	storagev1informers "k8s.io/client-go/informers/storage/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	storagev1listers "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
)

// emptySource lists no objects and watches without ever sending an event:
// the source of the informers for kinds berth does not serve. (A fake
// clientset did this before; it linked every fake typed client and
// client-go/testing into the binary, 15 MB of it.)
type emptySource struct{ list func() runtime.Object }

func (s emptySource) List(metav1.ListOptions) (runtime.Object, error) { return s.list(), nil }

func (emptySource) Watch(metav1.ListOptions) (watch.Interface, error) { return watch.NewFake(), nil }

// IsWatchListSemanticsUnSupported makes the reflector list and watch: a
// streaming list would wait for a bookmark this source never sends.
func (emptySource) IsWatchListSemanticsUnSupported() bool { return true }

func newEmptyInformer(obj runtime.Object, list func() runtime.Object) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformer(emptySource{list: list}, obj, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// emptyPersistentVolumes is a PersistentVolume informer whose cache stays
// empty; it syncs once it runs.
type emptyPersistentVolumes struct{ inf cache.SharedIndexInformer }

var _ corev1informers.PersistentVolumeInformer = emptyPersistentVolumes{}

func newEmptyPersistentVolumes() emptyPersistentVolumes {
	return emptyPersistentVolumes{newEmptyInformer(&corev1.PersistentVolume{},
		func() runtime.Object {
			return &corev1.PersistentVolumeList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
		})}
}

func (e emptyPersistentVolumes) Informer() cache.SharedIndexInformer { return e.inf }

func (e emptyPersistentVolumes) Lister() corev1listers.PersistentVolumeLister {
	return corev1listers.NewPersistentVolumeLister(e.inf.GetIndexer())
}

// emptyVolumeAttachments is a VolumeAttachment informer whose cache stays
// empty; it syncs once it runs.
type emptyVolumeAttachments struct{ inf cache.SharedIndexInformer }

var _ storagev1informers.VolumeAttachmentInformer = emptyVolumeAttachments{}

func newEmptyVolumeAttachments() emptyVolumeAttachments {
	return emptyVolumeAttachments{newEmptyInformer(&storagev1.VolumeAttachment{},
		func() runtime.Object {
			return &storagev1.VolumeAttachmentList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
		})}
}

func (e emptyVolumeAttachments) Informer() cache.SharedIndexInformer { return e.inf }

func (e emptyVolumeAttachments) Lister() storagev1listers.VolumeAttachmentLister {
	return storagev1listers.NewVolumeAttachmentLister(e.inf.GetIndexer())
}
