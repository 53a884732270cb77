package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/berth-dev/berth/bench/internal/benchkit"
	"github.com/berth-dev/berth/internal/cri"
)

const (
	warmTimeout  = 3 * time.Minute // the first pod pulls the image
	startTimeout = 2 * time.Minute
	goneTimeout  = 2 * time.Minute
)

// containerScript is what every container runs, on berth and on the floor:
// it sleeps and exits at once on SIGTERM (a bare sleep, as PID 1, would
// ignore it and make each deletion wait for the grace period).
const containerScript = "trap 'exit 0' TERM; sleep 3600 & wait"

// podTiming is one pod's start, as the client saw it and as containerd
// recorded it (wall-clock times, the same clock).
type podTiming struct {
	name, uid string
	start     time.Time // the create call (berth) or RunPodSandbox call (floor) began
	created   time.Time // berth: the create call returned
	bound     time.Time // berth: the watch saw spec.nodeName
	running   time.Time // berth: the watch saw Running; floor: StartContainer returned
	sandboxed time.Time // floor: RunPodSandbox returned
	// containerd's own timestamps (CRI CreatedAt, StartedAt).
	sandboxCreated, containerCreated, containerStarted time.Time
	events                                             map[string]benchkit.SeenEvent // berth: first arrival of each event reason
}

func (p podTiming) total() time.Duration { return p.running.Sub(p.start) }

// sentConfig is what berth sent to containerd for one pod, read back
// through CRI verbose status (containerd keeps the request's config).
type sentConfig struct {
	sandbox, container map[string]any // the configs as JSON objects
	name, uid          string
	podDir             string // the pod's directory (parent of its log directory)
}

// berth starts pods through berth's API and watches them run.
type berth struct {
	e    *env
	img  benchkit.Image
	tr   *benchkit.Tracker
	pods typedcorev1.PodInterface

	// minAvailable is the fewest available replicas the rolling update showed.
	minAvailable int32

	sent    *sentConfig // what berth sent for its first pod; nil when containerd would not tell
	sentErr error       // why sent is nil
}

// newBerth creates the namespace and opens the watches (they end with ctx).
func newBerth(ctx context.Context, e *env, img benchkit.Image) (*berth, error) {
	if err := benchkit.PrepareNamespace(ctx, e.API, namespace); err != nil {
		return nil, err
	}
	b := &berth{e: e, img: img, tr: benchkit.NewTracker(), pods: e.API.CoreV1().Pods(namespace)}
	if err := b.tr.Start(ctx, e.Watch, namespace); err != nil {
		return nil, err
	}
	return b, nil
}

// startPod creates one pod and waits until the watch sees it run: the
// measurement.
func (b *berth) startPod(ctx context.Context, name string, timeout time.Duration) (podTiming, error) {
	b.tr.Track(name)
	start := time.Now()
	p, err := b.pods.Create(ctx, benchPod(name, b.img.Ref(imageTag)), metav1.CreateOptions{})
	created := time.Now()
	if err != nil {
		return podTiming{}, fmt.Errorf("creating pod %s: %w", name, err)
	}
	b.e.AddUID("berth", string(p.UID))
	if err := b.tr.WaitRunning(ctx, name, timeout); err != nil {
		return podTiming{}, err
	}
	s := b.tr.Snapshot(name)
	return podTiming{name: name, uid: string(p.UID), start: start, created: created,
		bound: s.Bound, running: s.Running, events: s.Events}, nil
}

// deletePods deletes pods (default grace) and waits until they are gone.
func (b *berth) deletePods(ctx context.Context, names ...string) error {
	for _, name := range names {
		if err := b.pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting pod %s: %w", name, err)
		}
	}
	for _, name := range names {
		if err := b.tr.WaitGone(ctx, name, goneTimeout); err != nil {
			return err
		}
	}
	return nil
}

// warmUp runs the first pod, which pulls the image (every later one finds
// it), and reads back the configs berth sent for it (b.sent).
func (b *berth) warmUp(ctx context.Context) (podTiming, error) {
	benchkit.Progress("berth: first pod (pulls %s)", b.img.Ref(imageTag))
	warm, err := b.startPod(ctx, "warm-up", warmTimeout)
	if err != nil {
		return podTiming{}, err
	}
	runtimeTimes(ctx, b.e.CRI, &warm)
	b.e.NoteBridge()
	b.sent, b.sentErr = readSentConfig(ctx, b.e, warm.uid)
	benchkit.Progress("berth: first pod Running %s after its create call", benchkit.Dur(warm.total()))
	return warm, b.deletePods(ctx, warm.name)
}

// one measures pod i of the one-at-a-time run, then deletes it and waits
// until it is gone (not measured).
func (b *berth) one(ctx context.Context, i int) (podTiming, error) {
	pt, err := b.startPod(ctx, fmt.Sprintf("seq-%03d", i), startTimeout)
	if err != nil {
		return pt, err
	}
	runtimeTimes(ctx, b.e.CRI, &pt)
	return pt, b.deletePods(ctx, pt.name)
}

// burst creates n pods at once and waits until all run; busy is the
// memory with all of them running, after with all of them gone.
func (b *berth) burst(ctx context.Context, n int) (ps []podTiming, all time.Duration, busy, after memSample, err error) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("burst-%03d", i)
	}
	ps = make([]podTiming, n)
	err = together(ctx, n, func(ctx context.Context, i int) error {
		pt, err := b.startPod(ctx, names[i], startTimeout)
		ps[i] = pt
		return err
	})
	if err != nil {
		return nil, 0, busy, after, err // teardown deletes them
	}
	all = span(ps)
	busy = b.e.memory()
	for i := range ps {
		runtimeTimes(ctx, b.e.CRI, &ps[i])
	}
	benchkit.Progress("berth: all %d Running %s after the first create call; deleting them", n, benchkit.Dur(all))
	if err := b.deletePods(ctx, names...); err != nil {
		return nil, 0, busy, after, err
	}
	return ps, all, busy, b.e.memory(), nil
}

// benchPod is the pod every measurement creates: one container from the
// pushed image, best effort, default service account, nothing else.
func benchPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "podstart"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name:    "app",
				Image:   image,
				Command: []string{"sh", "-c", containerScript},
			}},
		},
	}
}

// together runs op n times at once (released by one barrier) and returns
// the first error after all have returned.
func together(ctx context.Context, n int, op func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			if err := op(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	close(release)
	wg.Wait()
	return context.Cause(ctx)
}

// span is from the first start to the last pod running.
func span(ps []podTiming) time.Duration {
	first, last := ps[0].start, ps[0].running
	for _, p := range ps[1:] {
		if p.start.Before(first) {
			first = p.start
		}
		if p.running.After(last) {
			last = p.running
		}
	}
	return last.Sub(first)
}

// runtimeTimes fills in containerd's timestamps for the pod's newest
// sandbox and container (found by the pod UID label berth and the floor
// both set). Unknown stays zero.
func runtimeTimes(ctx context.Context, rt cri.Runtime, p *podTiming) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sel := map[string]string{labelPodUID: p.uid}
	if sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel}); err == nil && len(sbs) > 0 {
		sb := slices.MaxFunc(sbs, func(a, b *runtimeapi.PodSandbox) int { return cmpInt(a.CreatedAt, b.CreatedAt) })
		p.sandboxCreated = time.Unix(0, sb.CreatedAt)
	}
	cs, err := rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil || len(cs) == 0 {
		return
	}
	c := slices.MaxFunc(cs, func(a, b *runtimeapi.Container) int { return cmpInt(a.CreatedAt, b.CreatedAt) })
	p.containerCreated = time.Unix(0, c.CreatedAt)
	if st, err := rt.ContainerStatus(ctx, c.Id); err == nil && st.StartedAt > 0 {
		p.containerStarted = time.Unix(0, st.StartedAt)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readSentConfig reads back, through CRI verbose status, the sandbox and
// container configs berth sent for the pod with uid: the floor builds its
// own and checks that they match.
func readSentConfig(ctx context.Context, e *env, uid string) (*sentConfig, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sel := map[string]string{labelPodUID: uid}
	sbs, err := e.CRI.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil || len(sbs) != 1 {
		return nil, fmt.Errorf("finding the sandbox of pod uid %s: %d sandboxes, %v", uid, len(sbs), err)
	}
	cs, err := e.CRI.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil || len(cs) != 1 {
		return nil, fmt.Errorf("finding the container of pod uid %s: %d containers, %v", uid, len(cs), err)
	}
	sr, err := e.raw.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sbs[0].Id, Verbose: true})
	if err != nil {
		return nil, err
	}
	cr, err := e.raw.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cs[0].Id, Verbose: true})
	if err != nil {
		return nil, err
	}
	out := &sentConfig{uid: uid, name: sbs[0].GetMetadata().GetName()}
	if out.sandbox, err = configOf(sr.GetInfo()); err != nil {
		return nil, fmt.Errorf("sandbox verbose status: %w", err)
	}
	if out.container, err = configOf(cr.GetInfo()); err != nil {
		return nil, fmt.Errorf("container verbose status: %w", err)
	}
	logDir, _ := out.sandbox["log_directory"].(string)
	if logDir == "" {
		return nil, fmt.Errorf("the sandbox config berth sent has no log_directory")
	}
	out.podDir = filepath.Dir(logDir)
	return out, nil
}

// configOf extracts "config" from containerd's verbose "info" JSON.
func configOf(info map[string]string) (map[string]any, error) {
	raw, ok := info["info"]
	if !ok {
		return nil, fmt.Errorf("no \"info\" (keys %v)", slices.Sorted(maps.Keys(info)))
	}
	var v struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, err
	}
	if v.Config == nil {
		return nil, fmt.Errorf("no config in the verbose info")
	}
	return v.Config, nil
}

// createServices creates n Services in the namespace, so that every
// container berth starts gets their service-link variables (the floor
// sends the same config, read back from berth's first pod).
func (b *berth) createServices(ctx context.Context, n int) error {
	if n == 0 {
		return nil
	}
	svcs := b.e.API.CoreV1().Services(namespace)
	for i := range n {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%03d", i)},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Service %s: %w", svc.Name, err)
		}
	}
	benchkit.Progress("berth: %d Services in namespace %s", n, namespace)
	return nil
}
