package volumes

import (
	"context"
	"fmt"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestTokenCacheRenewsBeforeExpiry(t *testing.T) {
	client := fake.NewSimpleClientset()
	now := time.Unix(1_000_000, 0)
	calls := 0
	var got *authenticationv1.TokenRequest
	client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		calls++
		got = a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		tr := got.DeepCopy()
		tr.Status = authenticationv1.TokenRequestStatus{Token: fmt.Sprintf("token-%d", calls),
			ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(*got.Spec.ExpirationSeconds) * time.Second))}
		return true, tr, nil
	})
	c := newTokenCache(client)
	c.now = func() time.Time { return now }
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}, Spec: corev1.PodSpec{ServiceAccountName: "sa"}}
	exp := int64(1000)
	proj := &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "vault", ExpirationSeconds: &exp}

	steps := []struct {
		after time.Duration
		want  string
	}{
		{0, "token-1"},
		{700 * time.Second, "token-1"}, // 70 %: still fresh
		{110 * time.Second, "token-2"}, // 81 %: renewed
		{100 * time.Second, "token-2"},
	}
	for i, st := range steps {
		now = now.Add(st.after)
		tok, err := c.serviceAccountToken(context.Background(), pod, proj)
		if err != nil || tok != st.want {
			t.Fatalf("step %d: %q %v, want %q", i, tok, err, st.want)
		}
	}
	if len(got.Spec.Audiences) != 1 || got.Spec.Audiences[0] != "vault" {
		t.Errorf("audiences %v, want [vault]", got.Spec.Audiences)
	}
	if ref := got.Spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" || ref.Name != "p" || ref.UID != "u1" {
		t.Errorf("bound object %+v, want pod p/u1", ref)
	}
}
