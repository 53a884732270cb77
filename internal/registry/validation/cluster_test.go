package validation

import (
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateNamespace(t *testing.T) {
	ns := func(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}, Spec: corev1.NamespaceSpec{Finalizers: finalizers}}
	}
	tests := []struct {
		name string
		ns   *corev1.Namespace
		want []want
	}{
		{"valid", ns("dev", "kubernetes"), nil},
		{"no name", ns(""), []want{reqDetail("metadata.name", "name or generateName is required")}},
		{"not a label", ns("dev.team"), []want{inv("metadata.name", "must not contain dots")}},
		{"upper case", ns("Dev"), []want{inv("metadata.name", "RFC 1123 label")}},
		{"namespaced namespace", func() *corev1.Namespace { n := ns("dev"); n.Namespace = "default"; return n }(),
			[]want{forb("metadata.namespace", "not allowed on this type")}},
		{"bad spec finalizer (no index, as Kubernetes)", ns("dev", "cleanup"),
			[]want{inv("spec.finalizers", "name is neither a standard finalizer name nor is it fully qualified")}},
		{"qualified spec finalizer", ns("dev", "example.com/cleanup"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateNamespace(tt.ns), tt.want...)
		})
	}
}

func TestValidateNamespaceUpdates(t *testing.T) {
	old := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev", ResourceVersion: "1"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	renamed := old.DeepCopy()
	renamed.Name = "prod"
	expectErrs(t, ValidateNamespaceUpdate(renamed, old), inv("metadata.name", "field is immutable"))

	terminating := old.DeepCopy()
	terminating.Status.Phase = corev1.NamespaceTerminating
	expectErrs(t, ValidateNamespaceStatusUpdate(terminating, old), inv("status.Phase", "may only be 'Active' if `deletionTimestamp` is empty"))

	oldDeleting := old.DeepCopy()
	oldDeleting.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	deleting := oldDeleting.DeepCopy()
	expectErrs(t, ValidateNamespaceStatusUpdate(deleting, oldDeleting), inv("status.Phase", "may only be 'Terminating' if `deletionTimestamp` is not empty"))

	finalize := old.DeepCopy()
	finalize.Spec.Finalizers = []corev1.FinalizerName{"kubernetes", "bad"}
	expectErrs(t, ValidateNamespaceFinalizeUpdate(finalize, old), inv("spec.finalizers[1]", "name is neither a standard finalizer name"))
}

func TestValidateServiceAccount(t *testing.T) {
	sa := func(name string) *corev1.ServiceAccount {
		return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: "1"}}
	}
	expectErrs(t, ValidateServiceAccount(sa("builder")))
	expectErrs(t, ValidateServiceAccount(sa("build.bot")))
	expectErrs(t, ValidateServiceAccount(sa("Builder")), inv("metadata.name", "RFC 1123 subdomain"))
	old := sa("builder")
	n := old.DeepCopy()
	n.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	expectErrs(t, ValidateServiceAccountUpdate(n, old))
	n.Namespace = "other"
	expectErrs(t, ValidateServiceAccountUpdate(n, old), inv("metadata.namespace", "field is immutable"))
}

func TestValidateNode(t *testing.T) {
	node := func() *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-1", ResourceVersion: "1"},
			Spec:       corev1.NodeSpec{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24"}},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("4"), "pods": resource.MustParse("110")},
				Allocatable: corev1.ResourceList{"cpu": resource.MustParse("4"), "pods": resource.MustParse("110")}},
		}
	}
	tests := []struct {
		name   string
		mutate func(n *corev1.Node)
		want   []want
	}{
		{"valid", func(*corev1.Node) {}, nil},
		{"namespaced", func(n *corev1.Node) { n.Namespace = "default" }, []want{forb("metadata.namespace", "not allowed on this type")}},
		{"bad taint effect (metadata.taints, as Kubernetes)", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: "Sometimes"}}
		}, []want{unsupported("metadata.taints[0].effect", `"NoSchedule", "PreferNoSchedule", "NoExecute"`)}},
		{"taint without effect", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "k"}} }, []want{req("metadata.taints[0].effect")}},
		{"duplicate taint", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: "NoSchedule"}, {Key: "k", Value: "v", Effect: "NoSchedule"}}
		}, []want{{field.ErrorTypeDuplicate, "metadata.taints[1]", "taints must be unique by key and effect pair"}}},
		{"negative capacity", func(n *corev1.Node) { n.Status.Capacity["memory"] = resource.MustParse("-1") },
			[]want{inv("status.capacity.memory", "must be greater than or equal to 0")}},
		{"fractional pods", func(n *corev1.Node) { n.Status.Allocatable["pods"] = resource.MustParse("1500m") },
			[]want{inv("status.allocatable.pods", "must be an integer")}},
		{"bad pod CIDR", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.0.0"} }, []want{inv("spec.podCIDRs[0]", "must be a valid CIDR value")}},
		{"two IPv4 pod CIDRs", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.0.0/24", "10.245.0.0/24"} },
			[]want{inv("spec.podCIDRs", "may specify no more than one CIDR for each IP family")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := node()
			tt.mutate(n)
			expectErrs(t, ValidateNode(n), tt.want...)
		})
	}

	old := node()
	upd := old.DeepCopy()
	upd.Spec.Unschedulable = true
	upd.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.5"}}
	expectErrs(t, ValidateNodeUpdate(upd, old))
	upd.Spec.PodCIDRs = []string{"10.245.0.0/24"}
	upd.Status.Addresses = append(upd.Status.Addresses, upd.Status.Addresses[0])
	expectErrs(t, ValidateNodeUpdate(upd, old),
		forb("spec.podCIDRs", `node updates may not change podCIDR except from "" to valid`),
		dup("status.addresses[1]"))
	noCIDR := node()
	noCIDR.Spec.PodCIDR, noCIDR.Spec.PodCIDRs = "", nil
	expectErrs(t, ValidateNodeUpdate(old, noCIDR)) // "" -> valid is how a CIDR is assigned
}

func TestValidateEvent(t *testing.T) {
	ev := func(ns, involvedNS string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web.17a", Namespace: ns, ResourceVersion: "1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: involvedNS},
			Reason:         "Pulled", Message: "Successfully pulled image", Type: corev1.EventTypeNormal,
		}
	}
	newStyle := func() *corev1.Event {
		e := ev("default", "default")
		e.EventTime = metav1.MicroTime{Time: time.Unix(100, 0)}
		e.ReportingController, e.ReportingInstance, e.Action = "berth.dev/agent", "node-1", "Pulling"
		return e
	}
	tests := []struct {
		name string
		ev   *corev1.Event
		want []want
	}{
		{"kubelet-style event", ev("default", "default"), nil},
		{"node event in default", ev("default", ""), nil},
		{"namespace mismatch", ev("default", "other"), []want{inv("involvedObject.namespace", "does not match event.namespace")}},
		{"cluster object in a namespace", ev("dev", ""), []want{inv("involvedObject.namespace", "does not match event.namespace")}},
		{"new-style event", newStyle(), nil},
		{"new-style event without reporter", func() *corev1.Event { e := newStyle(); e.ReportingController, e.Action = "", ""; return e }(),
			[]want{req("reportingController"), inv("reportingController", "name part must be non-empty"), inv("reportingController", "name part must consist of"), req("action")}},
		{"new-style reason too long", func() *corev1.Event { e := newStyle(); e.Reason = strings.Repeat("r", 129); return e }(),
			[]want{inv("reason", "can have at most 128 characters")}},
		{"name unusable in a URL", func() *corev1.Event { e := ev("default", "default"); e.Name = "a%b"; return e }(),
			[]want{inv("metadata.name", "may not contain '%'")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateEvent(tt.ev), tt.want...)
		})
	}
	old := ev("default", "default")
	n := old.DeepCopy()
	n.Count = 2
	expectErrs(t, ValidateEventUpdate(n, old))
}

func TestValidateLease(t *testing.T) {
	lease := func() *coordinationv1.Lease {
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease", ResourceVersion: "1"},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptrTo("node-1"), LeaseDurationSeconds: ptrTo(int32(40))},
		}
	}
	tests := []struct {
		name   string
		mutate func(l *coordinationv1.Lease)
		want   []want
	}{
		{"valid", func(*coordinationv1.Lease) {}, nil},
		{"zero duration", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptrTo(int32(0)) },
			[]want{inv("spec.leaseDurationSeconds", "must be greater than 0")}},
		{"negative transitions", func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptrTo(int32(-1)) },
			[]want{inv("spec.leaseTransitions", "must be greater than or equal to 0")}},
		{"unknown strategy (path doubled, as Kubernetes)", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptrTo(coordinationv1.CoordinatedLeaseStrategy("Newest"))
		},
			[]want{unsupported("spec.strategy.strategy", `"OldestEmulationVersion"`)}},
		{"preferred holder without strategy", func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptrTo("node-2") },
			[]want{forb("spec.preferredHolder", "may only be specified if `strategy` is defined")}},
		{"bad name", func(l *coordinationv1.Lease) { l.Name = "Node_1" }, []want{inv("metadata.name", "RFC 1123 subdomain")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := lease()
			tt.mutate(l)
			expectErrs(t, ValidateLease(l), tt.want...)
		})
	}
	old := lease()
	renewed := old.DeepCopy()
	renewed.Spec.RenewTime = &metav1.MicroTime{Time: time.Unix(200, 0)}
	expectErrs(t, ValidateLeaseUpdate(renewed, old))
}

func TestToInvalidError(t *testing.T) {
	if err := ToInvalidError(schema.GroupKind{Kind: "Pod"}, "x", nil); err != nil {
		t.Fatalf("no errors should give nil, got %v", err)
	}
	p := validPod()
	p.Name = "x"
	p.Spec.Containers[0].Image = ""
	err := ToInvalidError(schema.GroupKind{Kind: "Pod"}, p.Name, ValidatePod(p))
	const msg = `Pod "x" is invalid: spec.containers[0].image: Required value`
	if err.Error() != msg {
		t.Fatalf("message = %q, want %q", err.Error(), msg)
	}
	var se *apierrors.StatusError
	if !apierrors.IsInvalid(err) {
		t.Fatalf("not an Invalid status error: %T", err)
	}
	se = err.(*apierrors.StatusError)
	st := se.Status()
	if st.Code != http.StatusUnprocessableEntity || st.Reason != metav1.StatusReasonInvalid || st.Details.Kind != "Pod" || st.Details.Name != "x" {
		t.Errorf("status = %+v", st)
	}
	if len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != "spec.containers[0].image" || st.Details.Causes[0].Type != metav1.CauseTypeFieldValueRequired {
		t.Errorf("causes = %+v", st.Details.Causes)
	}
}
