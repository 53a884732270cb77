package alwayspullimages

import (
	"context"
	"errors"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/berth-dev/berth/internal/admission"
)

func container(name, image string, policy corev1.PullPolicy) corev1.Container {
	return corev1.Container{Name: name, Image: image, ImagePullPolicy: policy}
}

// pod has one container of each kind, none pulling Always.
func pod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{container("init", "busybox:1.36", corev1.PullIfNotPresent)},
			Containers: []corev1.Container{
				container("app", "ghcr.io/team/app:v1", corev1.PullNever),
				container("side", "envoy:v1", ""),
			},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox:1.36", ImagePullPolicy: corev1.PullIfNotPresent,
			}}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func allAlways(p *corev1.Pod) {
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].ImagePullPolicy = corev1.PullAlways
	}
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].ImagePullPolicy = corev1.PullAlways
	}
	for i := range p.Spec.EphemeralContainers {
		p.Spec.EphemeralContainers[i].ImagePullPolicy = corev1.PullAlways
	}
}

func attrs(op admission.Operation, subresource string, obj, old runtime.Object) *admission.Attributes {
	return &admission.Attributes{
		Operation:   op,
		Resource:    schema.GroupVersionResource{Version: "v1", Resource: "pods"},
		Subresource: subresource,
		Namespace:   "team-a",
		Name:        "web",
		Object:      obj,
		OldObject:   old,
	}
}

func TestAdmit(t *testing.T) {
	tests := []struct {
		name    string
		attrs   *admission.Attributes
		want    runtime.Object // nil: the object must be unchanged
		wantErr string
	}{
		{
			name:  "create sets Always on every container kind",
			attrs: attrs(admission.Create, "", pod(), nil),
			want:  pod(allAlways),
		},
		{
			name:  "update with a new image",
			attrs: attrs(admission.Update, "", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "ghcr.io/team/app:v2" }), pod()),
			want:  pod(allAlways, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "ghcr.io/team/app:v2" }),
		},
		{
			name:  "update with no new image is ignored",
			attrs: attrs(admission.Update, "", pod(func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }), pod()),
		},
		{
			name: "images compared as a set over all container kinds",
			attrs: attrs(admission.Update, "", pod(func(p *corev1.Pod) {
				p.Spec.Containers[1].Image = "busybox:1.36" // only in init and ephemeral containers before
			}), pod()),
		},
		{
			name:  "ephemeralcontainers subresource is ignored",
			attrs: attrs(admission.Update, "ephemeralcontainers", pod(func(p *corev1.Pod) { p.Spec.EphemeralContainers[0].Image = "new:1" }), pod()),
		},
		{
			name:  "status subresource is ignored",
			attrs: attrs(admission.Update, "status", pod(), pod()),
		},
		{
			name:  "delete is ignored",
			attrs: attrs(admission.Delete, "", pod(), nil),
		},
		{
			name: "other resources are ignored",
			attrs: func() *admission.Attributes {
				a := attrs(admission.Create, "", &corev1.PodTemplate{Template: corev1.PodTemplateSpec{Spec: pod().Spec}}, nil)
				a.Resource.Resource = "podtemplates"
				return a
			}(),
		},
		{
			name:    "a non-pod object on pods",
			attrs:   attrs(admission.Create, "", &corev1.ConfigMap{}, nil),
			wantErr: "Resource was marked with kind Pod but was unable to be converted",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.attrs.Object.DeepCopyObject()
			err := New().Admit(context.Background(), tc.attrs)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !apierrors.IsBadRequest(err) {
					t.Fatalf("Admit() error = %v, want BadRequest %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Admit() error = %v", err)
			}
			want := tc.want
			if want == nil {
				want = before
			}
			if !reflect.DeepEqual(tc.attrs.Object, want) {
				t.Errorf("Admit() object =\n%+v\nwant\n%+v", tc.attrs.Object, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	const (
		initErr      = `pods "web" is forbidden: spec.initContainers[0].imagePullPolicy: Unsupported value: "IfNotPresent": supported values: "Always"`
		neverErr     = `pods "web" is forbidden: spec.containers[0].imagePullPolicy: Unsupported value: "Never": supported values: "Always"`
		emptyErr     = `pods "web" is forbidden: spec.containers[1].imagePullPolicy: Unsupported value: "": supported values: "Always"`
		ephemeralErr = `pods "web" is forbidden: spec.ephemeralContainers[0].imagePullPolicy: Unsupported value: "IfNotPresent": supported values: "Always"`
	)
	tests := []struct {
		name    string
		attrs   *admission.Attributes
		wantErr string
	}{
		{name: "all Always", attrs: attrs(admission.Create, "", pod(allAlways), nil)},
		{
			name: "one container",
			attrs: attrs(admission.Create, "", pod(allAlways, func(p *corev1.Pod) {
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
			}), nil),
			wantErr: neverErr,
		},
		{
			name:    "every offending container, aggregated",
			attrs:   attrs(admission.Create, "", pod(), nil),
			wantErr: "[" + initErr + ", " + neverErr + ", " + emptyErr + ", " + ephemeralErr + "]",
		},
		{
			name: "update with a new image",
			attrs: attrs(admission.Update, "", pod(allAlways, func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "ghcr.io/team/app:v2"
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
			}), pod()),
			wantErr: neverErr,
		},
		{name: "update with no new image", attrs: attrs(admission.Update, "", pod(), pod())},
		{name: "subresource", attrs: attrs(admission.Update, "ephemeralcontainers", pod(), pod(allAlways))},
		{
			name:    "a non-pod object on pods",
			attrs:   attrs(admission.Create, "", &corev1.ConfigMap{}, nil),
			wantErr: "Resource was marked with kind Pod but was unable to be converted",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := New().Validate(context.Background(), tc.attrs)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() error = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Validate() error = %v\nwant %q", err, tc.wantErr)
			}
			if _, ok := tc.attrs.Object.(*corev1.Pod); !ok {
				return
			}
			if !apierrors.IsForbidden(err) {
				t.Errorf("Validate() error = %#v, want a Forbidden status", err)
			}
			var se *apierrors.StatusError
			if !errors.As(err, &se) {
				t.Errorf("Validate() error = %#v, want errors.As to find a *StatusError", err)
			}
		})
	}
}

func TestValidateAggregate(t *testing.T) {
	err := New().Validate(context.Background(), attrs(admission.Create, "", pod(), nil))
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) || len(agg.Errors()) != 4 {
		t.Fatalf("Validate() error = %#v, want an aggregate of 4", err)
	}
	if code := apierrors.ReasonForError(err); code != metav1.StatusReasonForbidden {
		t.Errorf("ReasonForError() = %q, want Forbidden", code)
	}
	status := err.(apierrors.APIStatus).Status()
	if status.Code != 403 || status.Details == nil || status.Details.Name != "web" || status.Details.Kind != "pods" {
		t.Errorf("Status() = %+v, want code 403 with details naming pods/web", status)
	}
}

// Admit then Validate, as the chain runs them, always passes.
func TestChain(t *testing.T) {
	chain := admission.Chain{Plugins: []any{New()}}
	a := attrs(admission.Create, "", pod(), nil)
	if err := chain.Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if err := chain.Validate(context.Background(), a); err != nil {
		t.Errorf("Validate() after Admit() = %v, want nil", err)
	}
}
