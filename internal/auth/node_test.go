package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// The Node authorizer's caches, the empty PersistentVolume and
// VolumeAttachment ones included, sync; then a node may read the secret of
// a pod bound to it and nothing else.
func TestNodeAuthorizer(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web", UID: "u1"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}}},
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	r, err := NewRBAC(informers.NewSharedInformerFactory(fake.NewClientset(pod, node), 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("caches did not sync: %v", err)
	}
	n1 := &user.DefaultInfo{Name: "system:node:n1", Groups: []string{user.NodesGroup, user.AllAuthenticated}}
	n2 := &user.DefaultInfo{Name: "system:node:n2", Groups: []string{user.NodesGroup, user.AllAuthenticated}}
	for _, tc := range []struct {
		name   string
		user   user.Info
		secret string
		want   authorizer.Decision
		reason string
	}{
		{"own pod's pull secret", n1, "pull", authorizer.DecisionAllow, ""},
		{"secret no pod of the node uses", n1, "other", authorizer.DecisionNoOpinion, "no relationship found"},
		{"another node's pod's secret", n2, "pull", authorizer.DecisionNoOpinion, "no relationship found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The graph is fed asynchronously from the synced caches.
			deadline := time.Now().Add(5 * time.Second)
			for {
				d, reason, err := r.Authorizer.Authorize(ctx, authorizer.AttributesRecord{User: tc.user, Verb: "get",
					Namespace: "app", Resource: "secrets", Name: tc.secret, ResourceRequest: true})
				if err != nil {
					t.Fatal(err)
				}
				if d == tc.want && strings.Contains(reason, tc.reason) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("decision %v (%q), want %v (%q)", d, reason, tc.want, tc.reason)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
