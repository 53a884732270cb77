package workloads

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// The informers of kinds berth does not serve must sync at once and stay
// empty, or the StatefulSet and disruption controllers would never start.
func TestEmptyInformersSync(t *testing.T) {
	client := fake.NewClientset(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "real", Namespace: "ns"}})
	factory := informers.NewSharedInformerFactory(client, 0)
	factory.InformerFor(&corev1.PersistentVolumeClaim{}, emptyInformer(&corev1.PersistentVolumeClaim{}, &corev1.PersistentVolumeClaimList{}))
	factory.InformerFor(&corev1.ReplicationController{}, emptyInformer(&corev1.ReplicationController{}, &corev1.ReplicationControllerList{}))
	pvcs := factory.Core().V1().PersistentVolumeClaims()
	rcs := factory.Core().V1().ReplicationControllers()
	synced := []cache.InformerSynced{pvcs.Informer().HasSynced, rcs.Informer().HasSynced}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		t.Fatal("empty informers did not sync")
	}
	if got, _ := pvcs.Lister().List(labels.Everything()); len(got) != 0 {
		t.Errorf("PVC lister: %d items, want none (the API is never asked)", len(got))
	}
	if got, _ := rcs.Lister().ReplicationControllers("ns").List(labels.Everything()); len(got) != 0 {
		t.Errorf("RC lister: %d items", len(got))
	}
}

func TestTrimDropsManagedFields(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	out, err := trim(p)
	if err != nil || out.(*corev1.Pod).ManagedFields != nil || out.(*corev1.Pod).Name != "p" {
		t.Errorf("trim = %+v, %v", out, err)
	}
}
