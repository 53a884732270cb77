package namespace

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"

	"github.com/berth-dev/berth/internal/testutil/poll"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	podsGVR       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	configmapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secretsGVR    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

func terminating(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	now := metav1.Now()
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &now},
		Spec:       corev1.NamespaceSpec{Finalizers: finalizers},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

func active(name string) *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

func meta_(ns, name string, finalizers ...string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: finalizers}
}

// runningPod is a pod on a node: the API server deletes it gracefully, so
// it stays until the node agent confirms its containers stopped.
func runningPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: meta_(ns, name), Spec: corev1.PodSpec{NodeName: "node1"}}
}

// serverLikeDeleteCollection makes the fake dynamic client's
// deletecollection behave as the API server's: objects with finalizers and
// pods on a node are only marked for deletion, others are removed.
func serverLikeDeleteCollection(dyn *dynamicfake.FakeDynamicClient) {
	dyn.PrependReactor("delete-collection", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		gvr, ns := action.GetResource(), action.GetNamespace()
		list, err := dyn.Tracker().List(gvr, gvr.GroupVersion().WithKind(kinds[gvr.Resource]), ns)
		if err != nil {
			return true, nil, err
		}
		items, _ := meta.ExtractList(list)
		for _, item := range items {
			m, _ := meta.Accessor(item)
			graceful := len(m.GetFinalizers()) > 0
			if u, ok := item.(interface{ UnstructuredContent() map[string]any }); ok && gvr.Resource == "pods" {
				spec, _ := u.UnstructuredContent()["spec"].(map[string]any)
				graceful = graceful || spec["nodeName"] != nil
			}
			if graceful {
				now := metav1.Now()
				m.SetDeletionTimestamp(&now)
				if err := dyn.Tracker().Update(gvr, item, ns); err != nil {
					return true, nil, err
				}
				continue
			}
			if err := dyn.Tracker().Delete(gvr, ns, m.GetName()); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
}

// kinds maps the test's resources to their kinds, which the fake's tracker
// needs to build lists.
var kinds = map[string]string{
	"pods": "Pod", "services": "Service", "endpoints": "Endpoints", "configmaps": "ConfigMap", "secrets": "Secret",
	"serviceaccounts": "ServiceAccount", "events": "Event", "leases": "Lease",
}

func dynamicClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	dyn := dynamicfake.NewSimpleDynamicClient(scheme.Scheme, objs...)
	serverLikeDeleteCollection(dyn)
	return dyn
}

func count(t *testing.T, dyn *dynamicfake.FakeDynamicClient, gvr schema.GroupVersionResource, ns string) int {
	t.Helper()
	list, err := dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing %s: %v", gvr.Resource, err)
	}
	return len(list.Items)
}

// finalized returns the namespace sent to the finalize subresource, if any.
func finalized(client *fake.Clientset) *corev1.Namespace {
	for _, a := range client.Actions() {
		if a.GetSubresource() == "finalize" {
			return a.(k8stesting.CreateAction).GetObject().(*corev1.Namespace)
		}
	}
	return nil
}

func condition(ns *corev1.Namespace, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range ns.Status.Conditions {
		if ns.Status.Conditions[i].Type == t {
			return &ns.Status.Conditions[i]
		}
	}
	return nil
}

func TestSyncNamespace(t *testing.T) {
	type want struct {
		finalized  bool
		finalizers []corev1.FinalizerName // spec.finalizers sent to finalize
		errPart    string
		remaining  bool                                     // the error only says content remains
		conditions map[corev1.NamespaceConditionType]string // type -> "Status Reason: message part"
		left       map[schema.GroupVersionResource]int      // objects left in "doomed"
	}
	tests := []struct {
		name      string
		ns        *corev1.Namespace
		objs      []runtime.Object
		resources []schema.GroupVersionResource
		prepare   func(*dynamicfake.FakeDynamicClient)
		want      want
	}{
		{
			name: "empty namespace is finalized",
			ns:   terminating("doomed", corev1.FinalizerKubernetes),
			want: want{finalized: true, conditions: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceContentRemaining:         "False ContentRemoved: All content successfully removed",
				corev1.NamespaceDeletionContentFailure:   "False ContentDeleted: All content successfully deleted",
				corev1.NamespaceFinalizersRemaining:      "False ContentHasNoFinalizers: All content-preserving finalizers finished",
				corev1.NamespaceDeletionDiscoveryFailure: "False ResourcesDiscovered: ",
			}},
		},
		{
			name: "content is deleted and the namespace finalized in one pass",
			ns:   terminating("doomed", corev1.FinalizerKubernetes),
			objs: []runtime.Object{
				&corev1.ConfigMap{ObjectMeta: meta_("doomed", "settings")},
				&corev1.Secret{ObjectMeta: meta_("doomed", "creds")},
				&corev1.ServiceAccount{ObjectMeta: meta_("doomed", "default")},
				&corev1.Service{ObjectMeta: meta_("doomed", "web")},
				&corev1.Endpoints{ObjectMeta: meta_("doomed", "web")},
				&corev1.Event{ObjectMeta: meta_("doomed", "web.1")},
				&coordinationv1.Lease{ObjectMeta: meta_("doomed", "leader")},
				&corev1.Pod{ObjectMeta: meta_("doomed", "unscheduled")},
				&corev1.ConfigMap{ObjectMeta: meta_("bystander", "settings")},
			},
			want: want{finalized: true, left: map[schema.GroupVersionResource]int{configmapsGVR: 0, secretsGVR: 0, podsGVR: 0}},
		},
		{
			name: "running pods keep the namespace",
			ns:   terminating("doomed", corev1.FinalizerKubernetes),
			objs: []runtime.Object{runningPod("doomed", "a"), runningPod("doomed", "b"), &corev1.ConfigMap{ObjectMeta: meta_("doomed", "settings")}},
			want: want{remaining: true, errPart: "pods. has 2 resource instances",
				left: map[schema.GroupVersionResource]int{podsGVR: 2, configmapsGVR: 0},
				conditions: map[corev1.NamespaceConditionType]string{
					corev1.NamespaceContentRemaining:       "True SomeResourcesRemain: Some resources are remaining: pods. has 2 resource instances",
					corev1.NamespaceDeletionContentFailure: "False ContentDeleted: ",
				}},
		},
		{
			name: "finalizers on content are reported",
			ns:   terminating("doomed", corev1.FinalizerKubernetes),
			objs: []runtime.Object{
				&corev1.ConfigMap{ObjectMeta: meta_("doomed", "held", "example.com/hold")},
				&corev1.Secret{ObjectMeta: meta_("doomed", "held", "example.com/hold", "example.com/audit")},
			},
			want: want{remaining: true, errPart: "configmaps. has 1 resource instances, secrets. has 1 resource instances",
				conditions: map[corev1.NamespaceConditionType]string{
					corev1.NamespaceContentRemaining: "True SomeResourcesRemain: Some resources are remaining: configmaps. has 1 resource instances, secrets. has 1 resource instances",
					corev1.NamespaceFinalizersRemaining: "True SomeFinalizersRemain: Some content in the namespace has finalizers remaining: " +
						"example.com/audit in 1 resource instances, example.com/hold in 2 resource instances",
				}},
		},
		{
			name: "active namespace is left alone",
			ns:   active("doomed"),
			objs: []runtime.Object{&corev1.ConfigMap{ObjectMeta: meta_("doomed", "settings")}},
			want: want{left: map[schema.GroupVersionResource]int{configmapsGVR: 1}},
		},
		{
			name: "namespace finalized already is left alone",
			ns:   terminating("doomed", "example.com/other"),
			objs: []runtime.Object{&corev1.ConfigMap{ObjectMeta: meta_("doomed", "settings")}},
			want: want{left: map[schema.GroupVersionResource]int{configmapsGVR: 1}},
		},
		{
			name: "other finalizers survive finalization",
			ns:   terminating("doomed", "example.com/other", corev1.FinalizerKubernetes),
			want: want{finalized: true, finalizers: []corev1.FinalizerName{"example.com/other"}},
		},
		{
			name: "delete failure is reported and retried",
			ns:   terminating("doomed", corev1.FinalizerKubernetes),
			objs: []runtime.Object{&corev1.Secret{ObjectMeta: meta_("doomed", "creds")}},
			prepare: func(dyn *dynamicfake.FakeDynamicClient) {
				dyn.PrependReactor("delete-collection", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewInternalError(io.ErrUnexpectedEOF)
				})
			},
			want: want{errPart: `deleting secrets. in namespace "doomed"`,
				left: map[schema.GroupVersionResource]int{secretsGVR: 1},
				conditions: map[corev1.NamespaceConditionType]string{
					corev1.NamespaceDeletionContentFailure: `True ContentDeletionFailed: Failed to delete all resource types, 1 remaining: deleting secrets. in namespace "doomed"`,
				}},
		},
		{
			name: "resources without deletecollection are deleted one by one",
			ns:   terminating("doomed", corev1.FinalizerKubernetes),
			objs: []runtime.Object{&corev1.Secret{ObjectMeta: meta_("doomed", "a")}, &corev1.Secret{ObjectMeta: meta_("doomed", "b")}},
			prepare: func(dyn *dynamicfake.FakeDynamicClient) {
				dyn.PrependReactor("delete-collection", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "secrets"}, "deletecollection")
				})
			},
			want: want{finalized: true, left: map[schema.GroupVersionResource]int{secretsGVR: 0}},
		},
		{
			name:      "only the configured resources are deleted",
			ns:        terminating("doomed", corev1.FinalizerKubernetes),
			resources: []schema.GroupVersionResource{secretsGVR},
			objs:      []runtime.Object{&corev1.Secret{ObjectMeta: meta_("doomed", "a")}, &corev1.ConfigMap{ObjectMeta: meta_("doomed", "b")}},
			want:      want{finalized: true, left: map[schema.GroupVersionResource]int{secretsGVR: 0, configmapsGVR: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			client := fake.NewClientset(tt.ns)
			dyn := dynamicClient(tt.objs...)
			if tt.prepare != nil {
				tt.prepare(dyn)
			}
			c := New(client, Config{Dynamic: dyn, Resources: tt.resources, Logger: quiet})
			err := c.syncNamespace(ctx, "doomed")

			switch {
			case tt.want.errPart == "" && err != nil:
				t.Fatalf("sync: %v", err)
			case tt.want.errPart != "" && (err == nil || !strings.Contains(err.Error(), tt.want.errPart)):
				t.Fatalf("sync error = %v, want one containing %q", err, tt.want.errPart)
			}
			if isRemaining := errors.As(err, new(*remainingError)); isRemaining != tt.want.remaining {
				t.Errorf("error %v: content-remaining = %v, want %v", err, isRemaining, tt.want.remaining)
			}

			got := finalized(client)
			if tt.want.finalized != (got != nil) {
				t.Fatalf("finalized = %v, want %v", got != nil, tt.want.finalized)
			}
			if got != nil && !slices.Equal(got.Spec.Finalizers, tt.want.finalizers) {
				t.Errorf("finalize sent spec.finalizers %v, want %v", got.Spec.Finalizers, tt.want.finalizers)
			}
			for gvr, n := range tt.want.left {
				if got := count(t, dyn, gvr, "doomed"); got != n {
					t.Errorf("%s left in doomed = %d, want %d", gvr.Resource, got, n)
				}
			}
			if got := count(t, dyn, configmapsGVR, "bystander"); tt.name == "content is deleted and the namespace finalized in one pass" && got != 1 {
				t.Errorf("configmaps in bystander = %d, want 1", got)
			}

			ns, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for typ, w := range tt.want.conditions {
				cond := condition(ns, typ)
				if cond == nil {
					t.Errorf("no %s condition", typ)
					continue
				}
				if got := string(cond.Status) + " " + cond.Reason + ": " + cond.Message; !strings.HasPrefix(got, w) {
					t.Errorf("%s = %q, want prefix %q", typ, got, w)
				}
			}
		})
	}
}

// TestConditionTransitions checks that a condition keeps its transition
// time while its status holds and that unchanged conditions cause no write.
func TestConditionTransitions(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(terminating("doomed", corev1.FinalizerKubernetes))
	dyn := dynamicClient(runningPod("doomed", "a"))
	c := New(client, Config{Dynamic: dyn, Logger: quiet})

	if err := c.syncNamespace(ctx, "doomed"); err == nil {
		t.Fatal("first sync: want content-remaining error")
	}
	first, _ := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	before := condition(first, corev1.NamespaceContentRemaining)

	client.ClearActions()
	if err := c.syncNamespace(ctx, "doomed"); err == nil {
		t.Fatal("second sync: want content-remaining error")
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" {
			t.Errorf("unchanged conditions were written again: %v", a)
		}
	}

	if err := dyn.Tracker().Delete(podsGVR, "doomed", "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.syncNamespace(ctx, "doomed"); err != nil {
		t.Fatalf("third sync: %v", err)
	}
	last, _ := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	after := condition(last, corev1.NamespaceContentRemaining)
	if after.Status != corev1.ConditionFalse || after.Reason != reasonContentRemoved {
		t.Errorf("after the pod left: %s %s, want False %s", after.Status, after.Reason, reasonContentRemoved)
	}
	if before.Status != corev1.ConditionTrue {
		t.Errorf("while the pod stayed: %s, want True", before.Status)
	}
	if finalized(client) == nil {
		t.Error("namespace not finalized once empty")
	}
}

func TestDiscover(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(terminating("doomed", corev1.FinalizerKubernetes))
	client.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: metav1.Verbs{"list", "delete", "deletecollection"}},
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"list", "delete", "deletecollection"}},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "update"}},
			{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: metav1.Verbs{"list", "delete"}},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create"}},
		}},
	}
	dyn := dynamicClient(&corev1.ConfigMap{ObjectMeta: meta_("doomed", "a")}, &corev1.Secret{ObjectMeta: meta_("doomed", "kept")})
	c := New(client, Config{Dynamic: dyn, Discover: true, Logger: quiet})

	gvrs, err := c.discoverResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []schema.GroupVersionResource{podsGVR, configmapsGVR}; !slices.Equal(gvrs, want) {
		t.Errorf("discovered %v, want %v (pods first; no subresources, cluster-scoped or undeletable resources)", gvrs, want)
	}
	if err := c.syncNamespace(ctx, "doomed"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if n := count(t, dyn, configmapsGVR, "doomed"); n != 0 {
		t.Errorf("configmaps left = %d, want 0", n)
	}
	if n := count(t, dyn, secretsGVR, "doomed"); n != 1 {
		t.Errorf("secrets left = %d, want 1 (not in discovery)", n)
	}
}

// apiServerLikeFinalize removes a namespace from the fake once its last
// spec finalizer is gone, as the API server does.
func apiServerLikeFinalize(client *fake.Clientset) {
	client.PrependReactor("create", "namespaces", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "finalize" {
			return false, nil, nil
		}
		ns := action.(k8stesting.CreateAction).GetObject().(*corev1.Namespace)
		if len(ns.Spec.Finalizers) > 0 || ns.DeletionTimestamp == nil {
			return false, nil, nil
		}
		return true, ns, client.Tracker().Delete(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, "", ns.Name)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 15*time.Second, what, cond)
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(active("doomed"), active("kept"))
	apiServerLikeFinalize(client)
	dyn := dynamicClient(runningPod("doomed", "web"), &corev1.ConfigMap{ObjectMeta: meta_("doomed", "settings")},
		&corev1.ConfigMap{ObjectMeta: meta_("kept", "settings")})
	c := New(client, Config{Dynamic: dyn, Logger: quiet})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after ctx ended")
		}
	}()
	waitFor(t, "caches to sync", c.HasSynced)

	// kubectl delete namespace doomed: the API server marks it.
	ns, _ := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	now := metav1.Now()
	ns.DeletionTimestamp = &now
	ns.Status.Phase = corev1.NamespaceTerminating
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "the configmap to be deleted and the pod marked", func() bool {
		pod, err := dyn.Resource(podsGVR).Namespace("doomed").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && pod.GetDeletionTimestamp() != nil && count(t, dyn, configmapsGVR, "doomed") == 0
	})
	waitFor(t, "NamespaceContentRemaining to name the pod", func() bool {
		ns, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		cond := condition(ns, corev1.NamespaceContentRemaining)
		return err == nil && cond != nil && cond.Status == corev1.ConditionTrue
	})
	if _, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace removed while its pod was still terminating: %v", err)
	}

	// The node agent stops the pod's containers and removes it.
	if err := dyn.Tracker().Delete(podsGVR, "doomed", "web"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "namespace doomed to be removed", func() bool {
		_, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if n := count(t, dyn, configmapsGVR, "kept"); n != 1 {
		t.Errorf("configmaps in namespace kept = %d, want 1", n)
	}
}
