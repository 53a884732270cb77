package podsecurity

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berth-dev/berth/internal/admission"
)

type fakeNS map[string]map[string]string

func (f fakeNS) GetNamespace(_ context.Context, name string) (*corev1.Namespace, error) {
	labels, ok := f[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, nil
}

type fakePods []*corev1.Pod

func (f fakePods) ListPods(_ context.Context, ns string) ([]*corev1.Pod, error) { return f, nil }

func privilegedPod(ns string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "priv", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}
}

func podAttrs(pod *corev1.Pod) *admission.Attributes {
	return &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
		Kind: corev1.SchemeGroupVersion.WithKind("Pod"), Namespace: pod.Namespace, Name: pod.Name, Object: pod}
}

func TestPodSecurity(t *testing.T) {
	ns := fakeNS{
		"open":       nil,
		"restricted": {"pod-security.kubernetes.io/enforce": "restricted"},
		"baseline":   {"pod-security.kubernetes.io/enforce": "baseline"},
		"warned":     {"pod-security.kubernetes.io/warn": "baseline", "pod-security.kubernetes.io/audit": "restricted"},
	}
	p, err := New(ns, fakePods(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if err := p.Validate(ctx, podAttrs(privilegedPod("open"))); err != nil {
		t.Errorf("an unlabelled namespace is privileged: %v", err)
	}
	for _, tc := range []struct{ ns, want string }{
		{"baseline", `pods "priv" is forbidden: violates PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)`},
		{"restricted", `pods "priv" is forbidden: violates PodSecurity "restricted:latest": privileged (container "app" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
	} {
		err := p.Validate(ctx, podAttrs(privilegedPod(tc.ns)))
		if !apierrors.IsForbidden(err) || err.Error() != tc.want {
			t.Errorf("%s: got %v\nwant %s", tc.ns, err, tc.want)
		}
	}

	a := podAttrs(privilegedPod("warned"))
	if err := p.Validate(ctx, a); err != nil {
		t.Errorf("warn mode refused: %v", err)
	}
	if w := a.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], `would violate PodSecurity "baseline:latest": privileged`) {
		t.Errorf("warnings %q", w)
	}

	// A compliant pod in restricted.
	ok := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: "restricted"},
		Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "app", Image: "busybox", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}}}
	if err := p.Validate(ctx, podAttrs(ok)); err != nil {
		t.Errorf("restricted pod refused: %v", err)
	}

	// A bad label value on a namespace is refused as Kubernetes does.
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}}
	err = p.Validate(ctx, &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"),
		Kind: corev1.SchemeGroupVersion.WithKind("Namespace"), Name: "x", Object: nsObj})
	if err == nil || !strings.Contains(err.Error(), `metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict"`) {
		t.Errorf("bad label: %v", err)
	}
}
