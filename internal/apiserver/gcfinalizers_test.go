package apiserver

import (
	"reflect"
	"testing"

	"github.com/berth-dev/berth/internal/registry"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGarbageCollectionFinalizers(t *testing.T) {
	reg := registry.Resources()
	deploy, _ := reg.Lookup(appsv1.SchemeGroupVersion.WithResource("deployments"))
	jobs, _ := reg.Lookup(batchv1.SchemeGroupVersion.WithResource("jobs"))
	policy := func(p metav1.DeletionPropagation) *metav1.DeleteOptions {
		return &metav1.DeleteOptions{PropagationPolicy: &p}
	}
	yes := true
	tests := []struct {
		name        string
		res         *registry.Resource
		finalizers  []string
		opts        *metav1.DeleteOptions
		wantChanged bool
		want        []string
	}{
		{"background: nothing to add", deploy, nil, policy(metav1.DeletePropagationBackground), false, nil},
		{"foreground adds foregroundDeletion", deploy, []string{"x"}, policy(metav1.DeletePropagationForeground), true, []string{"x", "foregroundDeletion"}},
		{"orphan adds orphan", deploy, nil, policy(metav1.DeletePropagationOrphan), true, []string{"orphan"}},
		{"orphanDependents=true (deprecated) orphans", deploy, nil, &metav1.DeleteOptions{OrphanDependents: &yes}, true, []string{"orphan"}},
		{"background replaces an earlier orphan", deploy, []string{"orphan"}, policy(metav1.DeletePropagationBackground), true, nil},
		{"no policy keeps a finalizer already there", deploy, []string{"foregroundDeletion"}, &metav1.DeleteOptions{}, false, []string{"foregroundDeletion"}},
		{"no policy: Deployments delete dependents", deploy, nil, &metav1.DeleteOptions{}, false, nil},
		{"no policy: batch/v1 Jobs orphan their pods", jobs, nil, &metav1.DeleteOptions{}, true, []string{"orphan"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &metav1.ObjectMeta{Finalizers: tc.finalizers}
			changed, got := garbageCollectionFinalizers(tc.res, m, tc.opts)
			if changed != tc.wantChanged || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v %q, want %v %q", changed, got, tc.wantChanged, tc.want)
			}
		})
	}
}
