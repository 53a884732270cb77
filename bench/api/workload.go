package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// protobufType is Kubernetes' protobuf media type.
const protobufType = "application/vnd.kubernetes.protobuf"

// apiResult is what one API server (berth or kube-apiserver) did under the
// workload. Both servers get exactly the same calls from the same program.
type apiResult struct {
	create, get, list, listRaw, listSelector benchkit.Latencies
	getProto, listProto                      benchkit.Latencies
	protoServed                              bool // the server answered protobuf (else JSON, as it may)
	listItems, selectorItems                 int
	listBytes                                int // one list response, as JSON

	gets, creates, mixed rate

	watchers int
	watchLat benchkit.Latencies // write sent → event received, per watcher and event

	rssBefore, rssAfterPods int64 // the server's RSS before the pods and after them (lists done)

	podJSON       [][]byte // the created pods as JSON (berth's are what the floor stores)
	configMapJSON []byte
}

// selectorLabel selects one pod in ten (see pod).
const selectorLabel = "shard=3"

// runWorkload runs the whole client-go workload against the server that rc
// reaches; pid is the server's process, for its memory (0: unknown).
func runWorkload(ctx context.Context, label string, cfg config, rc *rest.Config, pid int) (*apiResult, error) {
	res := &apiResult{}
	// client-go's typed clients ask for protobuf unless told otherwise:
	// the JSON rows say JSON explicitly, the protobuf rows protobuf.
	rc = rest.CopyConfig(rc)
	rc.ContentType = "application/json"
	rc.AcceptContentTypes = "application/json"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	pc := rest.CopyConfig(rc)
	pc.ContentType = protobufType
	pc.AcceptContentTypes = protobufType + ",application/json"
	pcs, err := kubernetes.NewForConfig(pc)
	if err != nil {
		return nil, err
	}
	if err := benchkit.PrepareNamespace(ctx, cs, namespace); err != nil {
		return nil, err
	}
	pods := cs.CoreV1().Pods(namespace)
	cms := cs.CoreV1().ConfigMaps(namespace)
	if pid > 0 {
		res.rssBefore = benchkit.RSS(pid)
	}

	var prof *profiler
	if cfg.profileDir != "" {
		prof = &profiler{dir: cfg.profileDir, label: label, cs: cs}
	}

	benchkit.Progress("%s: creating %d pods one after the other", label, cfg.pods)
	res.podJSON = make([][]byte, cfg.pods)
	wait := prof.during(ctx, "create", cfg.duration)
	res.create, err = sequential(ctx, cfg.pods, func(ctx context.Context, i int) error {
		p, err := pods.Create(ctx, pod(i), metav1.CreateOptions{})
		if err != nil {
			return err
		}
		res.podJSON[i], err = storedJSON(p, "Pod")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating pods: %w", err)
	}
	if err := wait(); err != nil {
		return nil, err
	}

	benchkit.Progress("%s: %d random gets, JSON and protobuf", label, cfg.n)
	getWith := func(c kubernetes.Interface) func(ctx context.Context, _ int) error {
		return func(ctx context.Context, _ int) error {
			_, err := c.CoreV1().Pods(namespace).Get(ctx, podName(rand.IntN(cfg.pods)), metav1.GetOptions{})
			return err
		}
	}
	if res.get, err = sequential(ctx, cfg.n, getWith(cs)); err != nil {
		return nil, fmt.Errorf("getting pods: %w", err)
	}
	if res.getProto, err = sequential(ctx, cfg.n, getWith(pcs)); err != nil {
		return nil, fmt.Errorf("getting pods (protobuf): %w", err)
	}
	if res.protoServed, err = servesProtobuf(ctx, pcs); err != nil {
		return nil, err
	}

	lists := listCount(cfg.n)
	benchkit.Progress("%s: %d lists of %d pods: decoded, raw, protobuf, with a selector", label, lists, cfg.pods)
	listWith := func(c kubernetes.Interface, opts metav1.ListOptions, items *int) func(ctx context.Context, _ int) error {
		return func(ctx context.Context, _ int) error {
			l, err := c.CoreV1().Pods(namespace).List(ctx, opts)
			if err != nil {
				return err
			}
			*items = len(l.Items)
			return nil
		}
	}
	list := listWith(cs, metav1.ListOptions{}, &res.listItems)
	// The same request, without decoding 1000 pods into Go structs: the
	// part of the time that is the server's and the wire's.
	raw := cs.CoreV1().RESTClient()
	rawList := func(ctx context.Context, _ int) error {
		body, err := raw.Get().Namespace(namespace).Resource("pods").DoRaw(ctx)
		if err != nil {
			return err
		}
		res.listBytes = len(body)
		return nil
	}
	var protoItems int
	for _, l := range []struct {
		name string
		out  *benchkit.Latencies
		op   func(context.Context, int) error
	}{
		{"listing pods", &res.list, list},
		{"listing pods (raw)", &res.listRaw, rawList},
		{"listing pods (protobuf)", &res.listProto, listWith(pcs, metav1.ListOptions{}, &protoItems)},
		{"listing pods with " + selectorLabel, &res.listSelector, listWith(cs, metav1.ListOptions{LabelSelector: selectorLabel}, &res.selectorItems)},
	} {
		if err := l.op(ctx, 0); err != nil { // warm-up, not measured
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		if *l.out, err = sequential(ctx, lists, l.op); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	if res.listItems != cfg.pods || protoItems != cfg.pods {
		return nil, fmt.Errorf("listing pods: got %d items (%d by protobuf), created %d", res.listItems, protoItems, cfg.pods)
	}
	if want := (cfg.pods + 6) / 10; res.selectorItems != want {
		return nil, fmt.Errorf("listing pods with %s: got %d items, want %d", selectorLabel, res.selectorItems, want)
	}
	if pid > 0 {
		res.rssAfterPods = benchkit.RSS(pid)
	}

	benchkit.Progress("%s: watch fan-out: %d watchers, %d events", label, cfg.watchers, cfg.events)
	res.watchers = cfg.watchers
	// Watchers speak protobuf, as informers do by default.
	wait = prof.during(ctx, "watch", cfg.duration)
	if res.watchLat, err = watchFanOut(ctx, pc, cs, cfg.watchers, cfg.events, cfg.pods); err != nil {
		return nil, fmt.Errorf("watch fan-out: %w", err)
	}
	if err := wait(); err != nil {
		return nil, err
	}

	benchkit.Progress("%s: %d clients × %s: gets", label, cfg.clients, cfg.duration)
	wait = prof.during(ctx, "gets", cfg.duration)
	res.gets, err = concurrent(ctx, cfg.clients, cfg.duration, func(ctx context.Context, _, _ int) error {
		_, err := pods.Get(ctx, podName(rand.IntN(cfg.pods)), metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("concurrent gets: %w", err)
	}
	if err := wait(); err != nil {
		return nil, err
	}
	benchkit.Progress("%s: %d clients × %s: configmap creates", label, cfg.clients, cfg.duration)
	wait = prof.during(ctx, "writes", cfg.duration)
	var sampleCM []byte
	res.creates, err = concurrent(ctx, cfg.clients, cfg.duration, func(ctx context.Context, w, i int) error {
		cm, err := cms.Create(ctx, configMap(configMapName(w, i)), metav1.CreateOptions{})
		if err == nil && w == 0 && i == 0 {
			sampleCM, err = storedJSON(cm, "ConfigMap")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("concurrent configmap creates: %w", err)
	}
	if err := wait(); err != nil {
		return nil, err
	}
	res.configMapJSON = sampleCM
	benchkit.Progress("%s: %d clients × %s: mixed", label, cfg.clients, cfg.duration)
	wait = prof.during(ctx, "mixed", cfg.duration)
	res.mixed, err = concurrent(ctx, cfg.clients, cfg.duration, func(ctx context.Context, w, i int) error {
		if i%5 == 4 {
			_, err := cms.Create(ctx, configMap(configMapName(w+cfg.clients, i)), metav1.CreateOptions{})
			return err
		}
		_, err := pods.Get(ctx, podName(rand.IntN(cfg.pods)), metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("concurrent mixed: %w", err)
	}
	if err := wait(); err != nil {
		return nil, err
	}
	return res, nil
}

// servesProtobuf tells whether a get asking for protobuf got protobuf.
func servesProtobuf(ctx context.Context, pcs kubernetes.Interface) (bool, error) {
	r := pcs.CoreV1().RESTClient().Get().Namespace(namespace).Resource("pods").Name(podName(0)).
		SetHeader("Accept", protobufType+",application/json").Do(ctx)
	var ct string
	r.ContentType(&ct)
	if err := r.Error(); err != nil {
		return false, fmt.Errorf("getting a pod as protobuf: %w", err)
	}
	return strings.HasPrefix(ct, protobufType), nil
}

// watchersPerConnection: watchers share HTTP/2 connections ten at a time,
// as a node's informers and a controller manager's do, well under either
// server's stream limit.
const watchersPerConnection = 10

// watchFanOut opens n watches on the namespace's pods from the list's
// resourceVersion, then patches a pod's annotation events times, one at a
// time: each watcher's latency is from the patch being sent to that watcher
// decoding the event. The next patch waits for every watcher to have seen
// the previous one.
func watchFanOut(ctx context.Context, rc *rest.Config, cs kubernetes.Interface, n, events, pods int) (benchkit.Latencies, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, err
	}
	rv := l.ResourceVersion

	var (
		mu      sync.Mutex
		sent    time.Time
		round   int
		seen    int
		lat     = make(benchkit.Latencies, 0, n*events)
		allSeen = make(chan struct{}, 1)
		errc    = make(chan error, n)
	)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var wcs kubernetes.Interface
	for i := range n {
		if i%watchersPerConnection == 0 {
			c := rest.CopyConfig(rc)
			c.Timeout = 0
			// A config with its own dialer is never shared from client-go's
			// transport cache: one HTTP/2 connection per client set.
			c.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
			if wcs, err = kubernetes.NewForConfig(c); err != nil {
				return nil, err
			}
		}
		w, err := wcs.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
		if err != nil {
			return nil, fmt.Errorf("watch %d: %w", i+1, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					errc <- fmt.Errorf("watch %d: error event %v", i+1, ev.Object)
					return
				}
				p, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type != watch.Modified {
					continue
				}
				now := time.Now()
				mu.Lock()
				if p.Annotations["bench/round"] == fmt.Sprint(round) {
					lat = append(lat, now.Sub(sent))
					seen++
					if seen == n {
						allSeen <- struct{}{}
					}
				}
				mu.Unlock()
			}
			if ctx.Err() == nil {
				errc <- fmt.Errorf("watch %d: closed by the server", i+1)
			}
		}()
	}
	podsClient := cs.CoreV1().Pods(namespace)
	for e := range events {
		mu.Lock()
		round, seen, sent = e, 0, time.Now()
		mu.Unlock()
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"bench/round":"%d"}}}`, e)
		if _, err := podsClient.Patch(ctx, podName(rand.IntN(pods)), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return nil, fmt.Errorf("patch %d: %w", e+1, err)
		}
		select {
		case <-allSeen:
		case err := <-errc:
			return nil, err
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("event %d: only %d of %d watchers saw it within 30s", e+1, seen, n)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return lat, nil
}
