package auth

import (
	"context"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/authenticator"
)

type fakeObjects struct {
	sa   *corev1.ServiceAccount
	pod  *corev1.Pod
	node *corev1.Node
}

func nf(r, name string) error { return apierrors.NewNotFound(schema.GroupResource{Resource: r}, name) }

func (f *fakeObjects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if f.sa == nil || f.sa.Name != name {
		return nil, nf("serviceaccounts", name)
	}
	return f.sa, nil
}
func (f *fakeObjects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if f.pod == nil || f.pod.Name != name {
		return nil, nf("pods", name)
	}
	return f.pod, nil
}
func (f *fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	return nil, nf("secrets", name)
}
func (f *fakeObjects) Node(_ context.Context, name string) (*corev1.Node, error) {
	if f.node == nil || f.node.Name != name {
		return nil, nf("nodes", name)
	}
	return f.node, nil
}

// A token bound to a pod on a node names both, and TokenReview shows them
// (the conformance test "should mount an API token into pods").
func TestTokenNodeInfo(t *testing.T) {
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "sa-uid"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "pod-uid"}, Spec: corev1.PodSpec{NodeName: "n1"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}
	tokens, err := NewTokens(key, DefaultIssuer, &fakeObjects{sa: sa, pod: pod, node: node})
	if err != nil {
		t.Fatal(err)
	}
	ctx := authenticator.WithAudiences(context.Background(), tokens.Audiences)
	tok, _, err := tokens.Issue(ctx, sa, pod, nil, node, nil, 3600, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp, ok, err := tokens.AuthenticateToken(ctx, tok)
	if !ok || err != nil {
		t.Fatalf("authenticate: %v %v", ok, err)
	}
	extra := resp.User.GetExtra()
	for k, want := range map[string]string{"authentication.kubernetes.io/pod-name": "p", "authentication.kubernetes.io/pod-uid": "pod-uid",
		"authentication.kubernetes.io/node-name": "n1", "authentication.kubernetes.io/node-uid": "node-uid"} {
		if got := extra[k]; len(got) != 1 || got[0] != want {
			t.Errorf("extra %s = %v, want [%s]", k, got, want)
		}
	}
}

func TestTokens(t *testing.T) {
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "sa-uid"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "pod-uid"}}
	objs := &fakeObjects{sa: sa, pod: pod}
	tokens, err := NewTokens(key, DefaultIssuer, objs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := authenticator.WithAudiences(context.Background(), tokens.Audiences)
	apiToken, _, err := tokens.Issue(ctx, sa, pod, nil, nil, nil, 3600, 0)
	if err != nil {
		t.Fatal(err)
	}
	otherAud, _, err := tokens.Issue(ctx, sa, pod, nil, nil, []string{"vault"}, 3600, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp, ok, err := tokens.AuthenticateToken(ctx, apiToken)
	if !ok || err != nil || resp.User.GetName() != "system:serviceaccount:ns:app" {
		t.Fatalf("API token: %v %v %+v", ok, err, resp)
	}
	groups := resp.User.GetGroups()
	if len(groups) != 2 || groups[0] != "system:serviceaccounts" || groups[1] != "system:serviceaccounts:ns" {
		t.Errorf("groups %v", groups)
	}
	if _, ok, _ := tokens.AuthenticateToken(ctx, otherAud); ok {
		t.Error("a token for audience vault authenticated at the API")
	}
	if _, ok, _ := tokens.AuthenticateToken(ctx, apiToken+"x"); ok {
		t.Error("a tampered token authenticated")
	}
	objs.pod = nil // the bound pod is deleted
	if _, ok, _ := tokens.AuthenticateToken(ctx, apiToken); ok {
		t.Error("a token bound to a deleted pod authenticated")
	}
	other, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := NewTokens(other, DefaultIssuer, objs)
	objs.pod = pod
	wrongKey, _, _ := foreign.Issue(ctx, sa, pod, nil, nil, nil, 3600, 0)
	if _, ok, _ := tokens.AuthenticateToken(ctx, wrongKey); ok {
		t.Error("a token signed by another key authenticated")
	}
}
