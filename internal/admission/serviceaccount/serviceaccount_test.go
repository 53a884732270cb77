package serviceaccount

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/admission"
)

// fakeAccounts is a map-backed ServiceAccounts. Like an informer cache it
// hands out its own pointers, so tests can tell whether the plugin aliases
// them.
type fakeAccounts struct {
	mu       sync.Mutex
	accounts map[string]*corev1.ServiceAccount // "ns/name"
	missFor  int                               // report NotFound for the first missFor calls
	err      error                             // returned on every call when set
	calls    int
}

func (f *fakeAccounts) Get(_ context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	sa, ok := f.accounts[namespace+"/"+name]
	if !ok || f.calls <= f.missFor {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, name)
	}
	return sa, nil
}

func (f *fakeAccounts) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func account(name string, pullSecrets ...string) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name}}
	for _, s := range pullSecrets {
		sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return sa
}

func accounts(sas ...*corev1.ServiceAccount) *fakeAccounts {
	f := &fakeAccounts{accounts: map[string]*corev1.ServiceAccount{}}
	for _, sa := range sas {
		f.accounts[sa.Namespace+"/"+sa.Name] = sa
	}
	return f
}

// testPlugin records the waits instead of sleeping.
func testPlugin(f ServiceAccounts, opts ...Option) (*Plugin, *[]time.Duration) {
	p := New(f, opts...)
	var waits []time.Duration
	p.wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	p.interval = func() time.Duration { return 150 * time.Millisecond }
	return p, &waits
}

func pod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func attrs(op admission.Operation, subresource string, obj runtime.Object) *admission.Attributes {
	return &admission.Attributes{
		Operation:   op,
		Resource:    schema.GroupVersionResource{Version: "v1", Resource: "pods"},
		Subresource: subresource,
		Namespace:   "team-a",
		Name:        "web",
		Object:      obj,
	}
}

func pullSecrets(names ...string) []corev1.LocalObjectReference {
	refs := []corev1.LocalObjectReference{}
	for _, n := range names {
		refs = append(refs, corev1.LocalObjectReference{Name: n})
	}
	return refs
}

func TestAdmit(t *testing.T) {
	tests := []struct {
		name         string
		accounts     *fakeAccounts
		attrs        *admission.Attributes
		wantSA       string
		wantSecrets  []corev1.LocalObjectReference
		wantErr      string
		wantCalls    int
		wantWaits    int
		wantUntouch  bool // the object must come out exactly as it went in
		wantNotFound bool
	}{
		{
			name:        "defaults to the default account and copies its pull secrets",
			accounts:    accounts(account("default", "regcred", "backup")),
			attrs:       attrs(admission.Create, "", pod()),
			wantSA:      "default",
			wantSecrets: pullSecrets("regcred", "backup"),
			wantCalls:   1,
		},
		{
			name:     "the pod's own pull secrets win and are not merged",
			accounts: accounts(account("default", "regcred")),
			attrs: attrs(admission.Create, "", pod(func(p *corev1.Pod) {
				p.Spec.ImagePullSecrets = pullSecrets("mine")
			})),
			wantSA:      "default",
			wantSecrets: pullSecrets("mine"),
			wantCalls:   1,
		},
		{
			name:        "an account without pull secrets adds none",
			accounts:    accounts(account("default")),
			attrs:       attrs(admission.Create, "", pod()),
			wantSA:      "default",
			wantSecrets: pullSecrets(),
			wantCalls:   1,
		},
		{
			name:     "a named account",
			accounts: accounts(account("default", "wrong"), account("builder", "harbor")),
			attrs: attrs(admission.Create, "", pod(func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "builder"
			})),
			wantSA:      "builder",
			wantSecrets: pullSecrets("harbor"),
			wantCalls:   1,
		},
		{
			name:     "a missing named account is looked up once",
			accounts: accounts(account("default")),
			attrs: attrs(admission.Create, "", pod(func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "builder"
			})),
			wantErr:      `pods "web" is forbidden: error looking up service account team-a/builder: serviceaccount "builder" not found`,
			wantCalls:    1,
			wantNotFound: true,
		},
		{
			name:         "a missing default account is looked up ten times",
			accounts:     accounts(),
			attrs:        attrs(admission.Create, "", pod()),
			wantErr:      `pods "web" is forbidden: error looking up service account team-a/default: serviceaccount "default" not found`,
			wantCalls:    10,
			wantWaits:    9,
			wantNotFound: true,
		},
		{
			name: "the default account created by the controller meanwhile",
			accounts: func() *fakeAccounts {
				f := accounts(account("default", "regcred"))
				f.missFor = 2
				return f
			}(),
			attrs:       attrs(admission.Create, "", pod()),
			wantSA:      "default",
			wantSecrets: pullSecrets("regcred"),
			wantCalls:   3,
			wantWaits:   2,
		},
		{
			name: "other errors are not retried",
			accounts: func() *fakeAccounts {
				f := accounts()
				f.err = apierrors.NewInternalError(errors.New("etcd unavailable"))
				return f
			}(),
			attrs:     attrs(admission.Create, "", pod()),
			wantErr:   `pods "web" is forbidden: error looking up service account team-a/default: Internal error occurred: etcd unavailable`,
			wantCalls: 1,
		},
		{
			name:     "generateName names the pod in the error",
			accounts: accounts(),
			attrs: func() *admission.Attributes {
				a := attrs(admission.Create, "", pod(func(p *corev1.Pod) {
					p.Name, p.GenerateName, p.Spec.ServiceAccountName = "", "web-", "ghost"
				}))
				a.Name = ""
				return a
			}(),
			wantErr:      `pods "web-" is forbidden: error looking up service account team-a/ghost: serviceaccount "ghost" not found`,
			wantCalls:    1,
			wantNotFound: true,
		},
		{
			name:        "updates are not mutated",
			accounts:    accounts(account("default", "regcred")),
			attrs:       attrs(admission.Update, "", pod()),
			wantUntouch: true,
		},
		{
			name:        "subresources are not mutated",
			accounts:    accounts(account("default", "regcred")),
			attrs:       attrs(admission.Create, "binding", pod()),
			wantUntouch: true,
		},
		{
			name:     "other resources are not mutated",
			accounts: accounts(account("default", "regcred")),
			attrs: func() *admission.Attributes {
				a := attrs(admission.Create, "", pod())
				a.Resource.Resource = "podtemplates"
				return a
			}(),
			wantUntouch: true,
		},
		{
			name:     "mirror pods are not mutated",
			accounts: accounts(account("default", "regcred")),
			attrs: attrs(admission.Create, "", pod(func(p *corev1.Pod) {
				p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
			})),
			wantUntouch: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, waits := testPlugin(tc.accounts)
			var before runtime.Object
			if tc.attrs.Object != nil {
				before = tc.attrs.Object.DeepCopyObject()
			}
			err := p.Admit(context.Background(), tc.attrs)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Admit() error = %v, want %q", err, tc.wantErr)
				}
				if !apierrors.IsForbidden(err) {
					t.Errorf("Admit() error = %#v, want a Forbidden status", err)
				}
			} else if err != nil {
				t.Fatalf("Admit() error = %v", err)
			}
			if got := tc.accounts.Calls(); got != tc.wantCalls {
				t.Errorf("Admit() looked the account up %d times, want %d", got, tc.wantCalls)
			}
			if len(*waits) != tc.wantWaits {
				t.Errorf("Admit() waited %d times, want %d", len(*waits), tc.wantWaits)
			}
			for _, w := range *waits {
				if w != 150*time.Millisecond {
					t.Errorf("Admit() waited %v, want the drawn interval 150ms every time", w)
				}
			}
			if tc.wantUntouch {
				if !reflect.DeepEqual(tc.attrs.Object, before) {
					t.Errorf("Admit() changed the object:\n got %+v\nwant %+v", tc.attrs.Object, before)
				}
				return
			}
			if tc.wantErr != "" {
				return
			}
			got := tc.attrs.Object.(*corev1.Pod)
			if got.Spec.ServiceAccountName != tc.wantSA {
				t.Errorf("serviceAccountName = %q, want %q", got.Spec.ServiceAccountName, tc.wantSA)
			}
			if !reflect.DeepEqual(got.Spec.ImagePullSecrets, tc.wantSecrets) {
				t.Errorf("imagePullSecrets = %v, want %v", got.Spec.ImagePullSecrets, tc.wantSecrets)
			}
		})
	}
}

func TestAdmitCopiesNamesWithoutAliasing(t *testing.T) {
	sa := account("default", "regcred")
	p, _ := testPlugin(accounts(sa))
	a := attrs(admission.Create, "", pod())
	if err := p.Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	a.Object.(*corev1.Pod).Spec.ImagePullSecrets[0].Name = "changed"
	if sa.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("changing the pod changed the account's imagePullSecrets to %v", sa.ImagePullSecrets)
	}
}

func TestAdmitStopsWaitingWhenContextEnds(t *testing.T) {
	f := accounts()
	p := New(f) // the real, ctx-aware sleep
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := p.Admit(ctx, attrs(admission.Create, "", pod()))
	if err == nil || !apierrors.IsForbidden(err) {
		t.Fatalf("Admit() error = %v, want Forbidden", err)
	}
	if !strings.Contains(err.Error(), "error looking up service account team-a/default: context canceled") {
		t.Errorf("Admit() error = %v, want it to say the context was canceled", err)
	}
	if f.Calls() != 1 {
		t.Errorf("Admit() looked the account up %d times after the context ended, want 1", f.Calls())
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Admit() took %v with a canceled context, want no wait", d)
	}
}

func TestIntervalBounds(t *testing.T) {
	p := New(accounts())
	for range 1000 {
		if d := p.interval(); d < 100*time.Millisecond || d >= 200*time.Millisecond {
			t.Fatalf("interval() = %v, want within [100ms, 200ms)", d)
		}
	}
}
