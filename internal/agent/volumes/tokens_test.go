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

type staticToken struct{ sources }

func (staticToken) serviceAccountToken(context.Context, *corev1.Pod, *corev1.ServiceAccountTokenProjection) (string, error) {
	return "tok", nil
}

// The token file's mode and owner follow the pod's users as the kubelet's
// projected volume does (the e2e test "should set ownership and permission
// when RunAsUser or FsGroup is present"); the fsGroup's group read is added
// later by setOwnership.
func TestTokenPayloadOwnership(t *testing.T) {
	u := func(v int64) *int64 { return &v }
	sc := func(user *int64) *corev1.SecurityContext { return &corev1.SecurityContext{RunAsUser: user} }
	tests := []struct {
		name     string
		podSC    *corev1.PodSecurityContext
		init     *corev1.SecurityContext
		app      *corev1.SecurityContext
		wantMode int32
		wantUser *int64
	}{
		{name: "no users", wantMode: 0o644},
		{name: "pod runAsUser", podSC: &corev1.PodSecurityContext{RunAsUser: u(1000)}, wantMode: 0o600, wantUser: u(1000)},
		{name: "fsGroup only", podSC: &corev1.PodSecurityContext{FSGroup: u(10000)}, wantMode: 0o600},
		{name: "both", podSC: &corev1.PodSecurityContext{RunAsUser: u(1000), FSGroup: u(10000)}, wantMode: 0o600, wantUser: u(1000)},
		{name: "container overrides pod, all the same", podSC: &corev1.PodSecurityContext{RunAsUser: u(1)}, init: sc(u(7)), app: sc(u(7)), wantMode: 0o600, wantUser: u(7)},
		{name: "containers differ", podSC: &corev1.PodSecurityContext{RunAsUser: u(1)}, app: sc(u(7)), wantMode: 0o644},
		{name: "one container without a user", app: sc(u(7)), init: sc(nil), wantMode: 0o644},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: tc.podSC,
				InitContainers: []corev1.Container{{Name: "i", SecurityContext: tc.init}},
				Containers:     []corev1.Container{{Name: "a", SecurityContext: tc.app}}}}
			p, err := tokenPayload(context.Background(), staticToken{}, pod, &corev1.ServiceAccountTokenProjection{Path: "token"}, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			f := p["token"]
			if f.Mode != tc.wantMode || (f.FsUser == nil) != (tc.wantUser == nil) || (f.FsUser != nil && *f.FsUser != *tc.wantUser) {
				t.Errorf("mode %o user %v, want %o %v", f.Mode, f.FsUser, tc.wantMode, tc.wantUser)
			}
		})
	}
}
