package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// readyTimeout is how long the server, without agent, gets to write its
// kubeconfig.
const readyTimeout = 60 * time.Second

// berthResult is what was measured through berth's API.
type berthResult struct {
	create, get, list, listRaw benchkit.Latencies
	listItems                  int
	listBytes                  int // one list response, as JSON

	gets, creates, mixed rate

	ready         time.Duration // exec to kubeconfig written
	peakRSS       int64         // VmHWM before stopping, bytes; -1 when unknown
	rss           int64         // VmRSS before stopping, bytes; -1 when unknown
	stop          time.Duration // SIGTERM to exit
	stopErr       error         // how it exited, when not cleanly
	podJSON       [][]byte      // the created pods as JSON: what the floor stores
	configMapJSON []byte
}

// benchBerth starts the server on dataDir, measures, and stops it.
func benchBerth(ctx context.Context, cfg config, bin, dataDir string) (res *berthResult, err error) {
	benchkit.Progress("berth: starting %s on %s", bin, dataDir)
	srv, err := benchkit.StartServer(ctx, bin, dataDir, readyTimeout, "--disable-agent")
	if err != nil {
		return nil, err
	}
	defer func() {
		if srv != nil { // an early return: stop it, keep the first error
			_, _ = srv.Stop()
		}
	}()
	res = &berthResult{ready: srv.Ready}
	benchkit.Progress("berth: ready in %s", srv.Ready.Round(time.Millisecond))

	// One client set, so one HTTP/2 connection.
	rc, err := benchkit.RESTConfig(srv.Kubeconfig, "berth-bench-api")
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	if err := benchkit.PrepareNamespace(ctx, cs, namespace); err != nil {
		return nil, err
	}
	pods := cs.CoreV1().Pods(namespace)
	cms := cs.CoreV1().ConfigMaps(namespace)

	benchkit.Progress("berth: creating %d pods one after the other", cfg.pods)
	res.podJSON = make([][]byte, cfg.pods)
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

	benchkit.Progress("berth: %d random gets", cfg.n)
	res.get, err = sequential(ctx, cfg.n, func(ctx context.Context, _ int) error {
		_, err := pods.Get(ctx, podName(rand.IntN(cfg.pods)), metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("getting pods: %w", err)
	}

	lists := listCount(cfg.n)
	benchkit.Progress("berth: %d lists of %d pods, decoded and raw", lists, cfg.pods)
	list := func(ctx context.Context, _ int) error {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		res.listItems = len(l.Items)
		return nil
	}
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
	if err := list(ctx, 0); err != nil { // warm-up, not measured
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	if res.list, err = sequential(ctx, lists, list); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	if res.listItems != cfg.pods {
		return nil, fmt.Errorf("listing pods: got %d items, created %d", res.listItems, cfg.pods)
	}
	if err := rawList(ctx, 0); err != nil {
		return nil, fmt.Errorf("listing pods (raw): %w", err)
	}
	if res.listRaw, err = sequential(ctx, lists, rawList); err != nil {
		return nil, fmt.Errorf("listing pods (raw): %w", err)
	}

	benchkit.Progress("berth: %d clients × %s: gets", cfg.clients, cfg.duration)
	res.gets, err = concurrent(ctx, cfg.clients, cfg.duration, func(ctx context.Context, _, _ int) error {
		_, err := pods.Get(ctx, podName(rand.IntN(cfg.pods)), metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("concurrent gets: %w", err)
	}
	benchkit.Progress("berth: %d clients × %s: configmap creates", cfg.clients, cfg.duration)
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
	res.configMapJSON = sampleCM
	benchkit.Progress("berth: %d clients × %s: mixed", cfg.clients, cfg.duration)
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

	res.peakRSS, res.rss = benchkit.Memory(srv.Pid())
	benchkit.Progress("berth: stopping (SIGTERM)")
	res.stop, res.stopErr = srv.Stop()
	srv = nil
	return res, nil
}

// storedJSON is obj as berth stores it: JSON with apiVersion and kind.
func storedJSON(obj any, kind string) ([]byte, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.APIVersion, o.Kind = "v1", kind
	case *corev1.ConfigMap:
		o.APIVersion, o.Kind = "v1", kind
	default:
		return nil, errors.New("storedJSON: unexpected type")
	}
	return json.Marshal(obj)
}
