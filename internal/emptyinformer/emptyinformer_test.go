package emptyinformer

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// Registered informers sync at once and stay empty even when the client
// would have objects of the kind: the API is never asked.
func TestInformersSyncEmpty(t *testing.T) {
	client := fake.NewClientset(
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "real", Namespace: "ns"}},
		&storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: "real"}})
	factory := informers.NewSharedInformerFactory(client, 0)
	factory.InformerFor(&corev1.PersistentVolumeClaim{}, For(&corev1.PersistentVolumeClaim{}, &corev1.PersistentVolumeClaimList{}))
	factory.InformerFor(&corev1.ReplicationController{}, For(&corev1.ReplicationController{}, &corev1.ReplicationControllerList{}))
	factory.InformerFor(&storagev1.VolumeAttachment{}, For(&storagev1.VolumeAttachment{}, &storagev1.VolumeAttachmentList{}))
	pvcs := factory.Core().V1().PersistentVolumeClaims()
	rcs := factory.Core().V1().ReplicationControllers()
	vas := factory.Storage().V1().VolumeAttachments()
	synced := []cache.InformerSynced{pvcs.Informer().HasSynced, rcs.Informer().HasSynced, vas.Informer().HasSynced}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }() // Shutdown waits for the stop
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		t.Fatal("empty informers did not sync")
	}
	if got, _ := pvcs.Lister().List(labels.Everything()); len(got) != 0 {
		t.Errorf("PVC lister: %d items, want none", len(got))
	}
	if got, _ := rcs.Lister().ReplicationControllers("ns").List(labels.Everything()); len(got) != 0 {
		t.Errorf("RC lister: %d items", len(got))
	}
	if got, _ := vas.Lister().List(labels.Everything()); len(got) != 0 {
		t.Errorf("VolumeAttachment lister: %d items", len(got))
	}
}
