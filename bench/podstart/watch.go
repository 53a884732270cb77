package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// tracker follows the benchmark's pods and their events through two
// watches (pods, events) opened before the first pod is created, and
// stamps what it sees with the time it arrived: the bench measures what a
// client of the API observes.
type tracker struct {
	mu   sync.Mutex
	pods map[string]*tracked // by pod name
}

// tracked is what the watches saw of one pod.
type tracked struct {
	uid     string
	bound   time.Time            // first seen with spec.nodeName
	running time.Time            // first seen Running with every container running
	events  map[string]time.Time // first arrival of each event reason
	failed  string               // why it will not run, when it will not
	last    string               // its last status, for timeouts

	done, gone         chan struct{} // done: running or failed
	doneOnce, goneOnce sync.Once
}

func newTracker() *tracker { return &tracker{pods: map[string]*tracked{}} }

// track registers a pod about to be created (before the create call, so no
// event can be missed).
func (t *tracker) track(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pods[name] = &tracked{events: map[string]time.Time{}, done: make(chan struct{}), gone: make(chan struct{})}
}

// seen is a copy of what the watches saw of one pod.
type seen struct {
	uid            string
	bound, running time.Time
	events         map[string]time.Time
	failed, last   string
}

// snapshot copies what was seen of name.
func (t *tracker) snapshot(name string) seen {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pods[name]
	return seen{uid: p.uid, bound: p.bound, running: p.running, events: maps.Clone(p.events), failed: p.failed, last: p.last}
}

// waitRunning waits until name runs (nil), will not run, or timeout.
func (t *tracker) waitRunning(ctx context.Context, name string, timeout time.Duration) error {
	t.mu.Lock()
	p := t.pods[name]
	t.mu.Unlock()
	select {
	case <-p.done:
		if s := t.snapshot(name); s.failed != "" {
			return fmt.Errorf("pod %s will not run: %s", name, s.failed)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("pod %s not Running after %s; last status: %s", name, timeout, t.snapshot(name).last)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitGone waits until the watch reports name deleted.
func (t *tracker) waitGone(ctx context.Context, name string, timeout time.Duration) error {
	t.mu.Lock()
	p := t.pods[name]
	t.mu.Unlock()
	select {
	case <-p.gone:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("pod %s still there %s after its deletion; last status: %s", name, timeout, t.snapshot(name).last)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start opens the watches and returns once both are established; they
// run until ctx ends, re-opening from the last resourceVersion when the
// server ends them.
func (t *tracker) start(ctx context.Context, cs kubernetes.Interface) error {
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
		list  func(context.Context) (string, error)
		watch func(context.Context, string) (watch.Interface, error)
	}{{"pods", podList, podWatch}, {"events", eventList, eventWatch}} {
		rv, err := w.list(ctx)
		if err != nil {
			return fmt.Errorf("listing %s: %w", w.what, err)
		}
		// Opened in the background, from the list's resourceVersion: nothing
		// after it is missed however long the call takes. (It took 15 s
		// while berth's API server sent a watch's response headers only with
		// its first event or bookmark: client-go's Watch waits for them.)
		go t.keepWatching(ctx, nil, rv, w.list, w.watch)
	}
	return nil
}

func (t *tracker) keepWatching(ctx context.Context, w watch.Interface, rv string,
	list func(context.Context) (string, error), open func(context.Context, string) (watch.Interface, error)) {
	for {
		if w == nil {
			if w = t.reopen(ctx, rv, list, open); w == nil {
				return // ctx ended
			}
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
		w = nil
	}
}

// reopen opens the watch from rv, listing again first when rv is empty or
// too old; it retries until it works or ctx ends (nil).
func (t *tracker) reopen(ctx context.Context, rv string,
	list func(context.Context) (string, error), open func(context.Context, string) (watch.Interface, error)) watch.Interface {
	for {
		if ctx.Err() != nil {
			return nil
		}
		var err error
		if rv == "" {
			if rv, err = list(ctx); err != nil {
				rv = ""
			}
		}
		if err == nil {
			w, err := open(ctx, rv)
			if err == nil {
				return w
			}
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitingFailures are waiting reasons that mean the pod will not start
// without a change (or only after a back-off the benchmark should not sit
// through).
var waitingFailures = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"CrashLoopBackOff": true,
}

func (t *tracker) onPod(typ watch.EventType, p *corev1.Pod) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.pods[p.Name]
	if tp == nil || (tp.uid != "" && tp.uid != string(p.UID)) {
		return
	}
	if typ == watch.Deleted {
		tp.goneOnce.Do(func() { close(tp.gone) })
		tp.doneOnce.Do(func() { tp.failed = "deleted"; close(tp.done) })
		return
	}
	tp.uid = string(p.UID)
	if p.Spec.NodeName != "" && tp.bound.IsZero() {
		tp.bound = now
	}
	tp.last = statusLine(p)
	if tp.running.IsZero() && isRunning(p) {
		tp.running = now
		tp.doneOnce.Do(func() { close(tp.done) })
		return
	}
	if tp.running.IsZero() {
		if why := wontRun(p); why != "" {
			tp.failed = why
			tp.doneOnce.Do(func() { close(tp.done) })
		}
	}
}

func (t *tracker) onEvent(e *corev1.Event) {
	now := time.Now()
	if e.InvolvedObject.Kind != "Pod" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.pods[e.InvolvedObject.Name]
	if tp == nil || (tp.uid != "" && e.InvolvedObject.UID != "" && string(e.InvolvedObject.UID) != tp.uid) {
		return
	}
	if _, seen := tp.events[e.Reason]; !seen {
		tp.events[e.Reason] = now
	}
}

// isRunning: phase Running and every container's state.running set.
func isRunning(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

func wontRun(p *corev1.Pod) string {
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return "phase " + string(p.Status.Phase) + ": " + statusLine(p)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && waitingFailures[w.Reason] {
			return fmt.Sprintf("container %s: %s: %s", cs.Name, w.Reason, w.Message)
		}
	}
	return ""
}

func statusLine(p *corev1.Pod) string {
	parts := []string{"phase=" + string(p.Status.Phase)}
	if p.Spec.NodeName != "" {
		parts = append(parts, "node="+p.Spec.NodeName)
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			parts = append(parts, cs.Name+"=running")
		case cs.State.Waiting != nil:
			parts = append(parts, fmt.Sprintf("%s=waiting(%s: %s)", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
		case cs.State.Terminated != nil:
			parts = append(parts, fmt.Sprintf("%s=terminated(%s, exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
		}
	}
	return strings.Join(parts, " ")
}
