package noderestriction

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/admission"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func pod(name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: node}}
}

func TestAdmit(t *testing.T) {
	f := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0)
	empty := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0)
	p, err := New(f, empty, authorizerfactory.NewAlwaysAllowAuthorizer())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []*corev1.Pod{pod("mine", "n1"), pod("theirs", "n2")} {
		if err := f.Core().V1().Pods().Informer().GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	n1 := &user.DefaultInfo{Name: "system:node:n1", Groups: []string{user.NodesGroup}}
	admin := &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup}}
	podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
	podGVK := corev1.SchemeGroupVersion.WithKind("Pod")
	labelled := pod("theirs", "n2")
	labelled.Labels = map[string]string{"x": "y"}
	cases := []struct {
		name string
		who  user.Info
		a    *admission.Attributes
		want string // "" = admitted
	}{
		{"DeleteOwnPod", n1, &admission.Attributes{Operation: admission.Delete, Resource: podsGVR, Kind: podGVK, Namespace: "ns", Name: "mine", OldObject: pod("mine", "n1")}, ""},
		{"DeleteOtherNodesPod", n1, &admission.Attributes{Operation: admission.Delete, Resource: podsGVR, Kind: podGVK, Namespace: "ns", Name: "theirs", OldObject: pod("theirs", "n2")},
			`pods "theirs" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself`},
		{"AdminDeletesAnyPod", admin, &admission.Attributes{Operation: admission.Delete, Resource: podsGVR, Kind: podGVK, Namespace: "ns", Name: "theirs"}, ""},
		{"OwnPodStatus", n1, &admission.Attributes{Operation: admission.Update, Resource: podsGVR, Subresource: "status", Kind: podGVK, Namespace: "ns", Name: "mine", Object: pod("mine", "n1"), OldObject: pod("mine", "n1")}, ""},
		{"OtherNodesPodStatus", n1, &admission.Attributes{Operation: admission.Update, Resource: podsGVR, Subresource: "status", Kind: podGVK, Namespace: "ns", Name: "theirs", Object: labelled, OldObject: pod("theirs", "n2")},
			`node "n1" can only update pod status for pods with spec.nodeName set to itself`},
		{"CreateNonMirrorPod", n1, &admission.Attributes{Operation: admission.Create, Resource: podsGVR, Kind: podGVK, Namespace: "ns", Name: "new", Object: pod("new", "n1")},
			`node "n1" can only create mirror pods`},
		{"OtherNode", n1, &admission.Attributes{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("nodes"), Kind: corev1.SchemeGroupVersion.WithKind("Node"), Name: "n2",
			Object: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, OldObject: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}},
			`nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"`},
		{"OwnNodeTaints", n1, &admission.Attributes{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("nodes"), Kind: corev1.SchemeGroupVersion.WithKind("Node"), Name: "n1",
			Object:    &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}}},
			OldObject: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}},
			`node "n1" is not allowed to modify taints`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := genericapirequest.WithUser(context.Background(), c.who)
			err := p.Admit(ctx, c.a)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}
