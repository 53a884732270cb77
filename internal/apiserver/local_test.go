package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage/memory"
	"github.com/berth-dev/berth/internal/testutil/poll"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 5*time.Second, what, cond)
}

// TestLocalInformer: an informer on the local source lists, then follows
// creates, updates and deletes made through the API; what it changes in
// its own objects (the factory's transform) does not reach the API; a
// filtered source sees a pod leave its selector as a deletion.
func TestLocalInformer(t *testing.T) {
	s, do := newTestServer(t)
	create := func(name string) {
		t.Helper()
		if rec := do("POST", "/api/v1/namespaces/default/pods", "application/json", strings.Replace(podJSON, "%s", name, 1)); rec.Code != http.StatusCreated {
			t.Fatalf("creating %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	create("before")

	local := NewLocalSources(s.cfg.Store, s.cfg.Registry)
	newInformer, obj, ok := local.Informer(corev1.SchemeGroupVersion.WithResource("pods"))
	if !ok {
		t.Fatal("no local informer for pods")
	}
	if _, isPod := obj.(*corev1.Pod); !isPod {
		t.Fatalf("informer object %T", obj)
	}
	inf := newInformer(nil, 0)
	// As the controllers' factory: drop managedFields in the informer.
	if err := inf.SetTransform(func(o any) (any, error) {
		o.(*corev1.Pod).ManagedFields = nil
		return o, nil
	}); err != nil {
		t.Fatal(err)
	}
	unbound, ok := local.ListerWatcher(corev1.SchemeGroupVersion.WithResource("pods"))
	if !ok {
		t.Fatal("no local source for pods")
	}
	filtered := cache.NewSharedIndexInformer(unbound.WithOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" }),
		&corev1.Pod{}, 0, cache.Indexers{})
	var deleted []string
	deletedc := make(chan string, 10)
	if _, err := filtered.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(o any) {
		if p, ok := o.(*corev1.Pod); ok {
			deletedc <- p.Name
		}
	}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go inf.RunWithContext(ctx)
	go filtered.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced, filtered.HasSynced) {
		t.Fatal("informers did not sync")
	}
	get := func(name string) *corev1.Pod {
		o, ok, _ := inf.GetStore().GetByKey("default/" + name)
		if !ok {
			return nil
		}
		return o.(*corev1.Pod)
	}
	if p := get("before"); p == nil || p.ResourceVersion == "" || p.ManagedFields != nil {
		t.Fatalf("listed pod: %+v", p)
	}
	// The API still serves the managedFields the informer dropped.
	if rec := do("GET", "/api/v1/namespaces/default/pods/before", "", ""); !strings.Contains(rec.Body.String(), `"managedFields"`) {
		t.Fatalf("get after the informer's transform lost managedFields: %s", rec.Body)
	}

	create("after")
	waitFor(t, "the created pod", func() bool { return get("after") != nil })
	// Watched objects too are the informer's own copies: the protobuf
	// answer, encoded from the cache's decoded object, keeps managedFields.
	if rec := do("GET", "/api/v1/namespaces/default/pods/after", "", "", "Accept", protobufMediaType); !strings.Contains(rec.Body.String(), `f:metadata`) {
		t.Fatalf("protobuf get after the informer's transform lost managedFields: %q", rec.Body)
	}
	if rec := do("PATCH", "/api/v1/namespaces/default/pods/after", "application/merge-patch+json", `{"metadata":{"labels":{"v":"2"}}}`); rec.Code != http.StatusOK {
		t.Fatalf("patch: %d %s", rec.Code, rec.Body)
	}
	waitFor(t, "the patched pod", func() bool { p := get("after"); return p != nil && p.Labels["v"] == "2" })

	// Binding gives "after" a node: it leaves the filtered source.
	binding := `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"after"},"target":{"kind":"Node","name":"n1"}}`
	if rec := do("POST", "/api/v1/namespaces/default/pods/after/binding", "application/json", binding); rec.Code != http.StatusCreated {
		t.Fatalf("binding: %d %s", rec.Code, rec.Body)
	}
	select {
	case name := <-deletedc:
		deleted = append(deleted, name)
	case <-time.After(5 * time.Second):
		t.Fatal("the bound pod did not leave the filtered informer")
	}
	if fmt.Sprint(deleted) != "[after]" {
		t.Fatalf("filtered deletions %v", deleted)
	}

	if rec := do("DELETE", "/api/v1/namespaces/default/pods/before?gracePeriodSeconds=0", "", ""); rec.Code != http.StatusOK {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	waitFor(t, "the deleted pod to go", func() bool { return get("before") == nil })
}

// TestLocalWatchTooOld: a watch from before the cache's history ends in a
// 410 Expired error event, on which a reflector lists again.
func TestLocalWatchTooOld(t *testing.T) {
	s, do := newTestServer(t)
	for i := range 3 {
		if rec := do("POST", "/api/v1/namespaces/default/pods", "application/json", strings.Replace(podJSON, "%s", fmt.Sprint("p", i), 1)); rec.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
	}
	if err := s.cfg.Store.Compact(t.Context(), 3); err != nil {
		t.Fatal(err)
	}
	lw, _ := NewLocalSources(s.cfg.Store, s.cfg.Registry).ListerWatcher(corev1.SchemeGroupVersion.WithResource("pods"))
	w, err := lw.Watch(metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		st, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
			t.Fatalf("event %s %#v", ev.Type, ev.Object)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
}

// TestLocalSourcesNeedACache: without a watch cache informers go through
// the API.
func TestLocalSourcesNeedACache(t *testing.T) {
	if NewLocalSources(memory.New(), registry.Resources()) != nil {
		t.Fatal("local sources over a store without a cache")
	}
	var none *LocalSources
	if _, _, ok := none.Informer(corev1.SchemeGroupVersion.WithResource("pods")); ok {
		t.Fatal("an informer from nil sources")
	}
}
