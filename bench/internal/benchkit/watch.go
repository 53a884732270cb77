package benchkit

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// lister lists a resource into the tracker and returns the list's
// resourceVersion; opener opens its watch from one.
type (
	lister func(ctx context.Context) (string, error)
	opener func(ctx context.Context, rv string) (watch.Interface, error)
)

// Start lists the pods and events of namespace and returns; the watches
// then run from those lists until ctx ends, re-opened from the last
// resourceVersion when the server ends them. cs should have no client
// timeout: the watches last.
func (t *Tracker) Start(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	pods := cs.CoreV1().Pods(namespace)
	events := cs.CoreV1().Events(namespace)
	podList := func(ctx context.Context) (string, error) {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			t.onPod(watch.Modified, &l.Items[i])
		}
		return l.ResourceVersion, nil
	}
	podWatch := func(ctx context.Context, rv string) (watch.Interface, error) {
		return pods.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	}
	eventList := func(ctx context.Context) (string, error) {
		l, err := events.List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			t.onEvent(&l.Items[i])
		}
		return l.ResourceVersion, nil
	}
	eventWatch := func(ctx context.Context, rv string) (watch.Interface, error) {
		return events.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	}
	for _, w := range []struct {
		what  string
		list  lister
		watch opener
	}{{"pods", podList, podWatch}, {"events", eventList, eventWatch}} {
		rv, err := w.list(ctx)
		if err != nil {
			return fmt.Errorf("listing %s: %w", w.what, err)
		}
		// The watch starts at the list's resourceVersion, so nothing after
		// the list is missed however late the watch call returns (berth's
		// API server once sent a watch's response headers only with its
		// first event or bookmark, up to 15 s later, and client-go's Watch
		// waits for them).
		go t.keepWatching(ctx, rv, w.list, w.watch)
	}
	return nil
}

// keepWatching follows one resource from rv until ctx ends: it opens the
// watch, handles what arrives, and re-opens it from the last
// resourceVersion seen (after a fresh list when that is too old) whenever
// the server ends it.
func (t *Tracker) keepWatching(ctx context.Context, rv string, list lister, open opener) {
	for {
		if ctx.Err() != nil {
			return
		}
		var err error
		if rv == "" {
			rv, err = list(ctx)
		}
		var w watch.Interface
		if err == nil {
			w, err = open(ctx, rv)
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
			}
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				if st, ok := ev.Object.(*metav1.Status); ok && (st.Code == http.StatusGone || st.Reason == metav1.StatusReasonExpired) {
					rv = "" // too old: list again
				}
				break
			}
			if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
				rv = m.GetResourceVersion()
			}
			switch o := ev.Object.(type) {
			case *corev1.Pod:
				t.onPod(ev.Type, o)
			case *corev1.Event:
				t.onEvent(o)
			}
		}
		w.Stop()
	}
}

// onPod records a pod as the watch delivered it.
func (t *Tracker) onPod(typ watch.EventType, p *corev1.Pod) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.pods[p.Name]
	if tp == nil || (tp.UID != "" && tp.UID != string(p.UID)) {
		return
	}
	if typ == watch.Deleted {
		tp.goneOnce.Do(func() { close(tp.gone) })
		tp.doneOnce.Do(func() { tp.Failed = "deleted"; close(tp.done) })
		return
	}
	tp.UID = string(p.UID)
	if p.Spec.NodeName != "" && tp.Bound.IsZero() {
		tp.Bound = now
	}
	tp.Last = statusLine(p)
	if tp.Running.IsZero() && isRunning(p) {
		tp.Running = now
		tp.doneOnce.Do(func() { close(tp.done) })
		return
	}
	if tp.Running.IsZero() {
		if why := wontRun(p); why != "" {
			tp.Failed = why
			tp.doneOnce.Do(func() { close(tp.done) })
		}
	}
}

// onEvent records the first arrival of each event reason of a tracked pod.
func (t *Tracker) onEvent(e *corev1.Event) {
	now := time.Now()
	if e.InvolvedObject.Kind != "Pod" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.pods[e.InvolvedObject.Name]
	if tp == nil || (tp.UID != "" && e.InvolvedObject.UID != "" && string(e.InvolvedObject.UID) != tp.UID) {
		return
	}
	if _, seen := tp.Events[e.Reason]; !seen {
		tp.Events[e.Reason] = SeenEvent{At: now, Message: e.Message}
	}
}
