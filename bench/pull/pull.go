package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

const (
	pullTimeout  = 5 * time.Minute // one cold pull, on either side
	eventTimeout = 30 * time.Second
	goneTimeout  = 2 * time.Minute
	secretName   = "bench-pull-registry"
)

// containerScript is what the pod's container runs: it sleeps and exits at
// once on SIGTERM (a bare sleep, as PID 1, would ignore it and make each
// deletion wait for the grace period).
const containerScript = "trap 'exit 0' TERM; sleep 3600 & wait"

// berthRun is one pod through berth: times as the client saw them (the
// create call, then arrivals on the pod and event watches) and what the
// Pulled event said.
type berthRun struct {
	tag, pod string
	start    time.Time // the create call began
	created  time.Time // the create call returned
	bound    time.Time // spec.nodeName seen
	pulling  time.Time // Pulling event seen
	pulled   time.Time // Pulled event seen
	running  time.Time // Running seen

	message       string        // the Pulled event's message
	reported      time.Duration // "Successfully pulled image … in X": berth's CRI PullImage call
	reportedTotal time.Duration // "(Y including waiting)"
	reportedSize  int64         // "Image size: N bytes"
}

func (r berthRun) toPulled() time.Duration  { return r.pulled.Sub(r.start) }
func (r berthRun) toPulling() time.Duration { return sub(r.pulling, r.start) }
func (r berthRun) pullSeen() time.Duration  { return sub(r.pulled, r.pulling) }
func (r berthRun) toRunning() time.Duration { return r.running.Sub(r.start) }

func sub(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return a.Sub(b)
}

// floorRun is one CRI PullImage on berth's containerd.
type floorRun struct {
	tag  string
	pull time.Duration // the PullImage call
	size int64         // ImageStatus size afterwards
}

// pulledMessage is the kubelet's Pulled event text.
var pulledMessage = regexp.MustCompile(`^Successfully pulled image ".*" in (\S+) \((\S+) including waiting\)\. Image size: (\d+) bytes\.$`)

// bench holds what every run uses.
type bench struct {
	node *benchkit.Node
	tr   *benchkit.Tracker
	reg  *benchkit.Registry
	img  benchkit.Image

	coldChecked bool // containerd's content store could be inspected
}

// contentDir is berth's containerd's content store (blobs/sha256/<hex>).
func (b *bench) contentDir() string {
	return filepath.Join(b.node.DataDir, "containerd", "root", "io.containerd.content.v1.content")
}

// prepare creates the namespace (with its default service account) and
// the docker-registry secret, and opens the watches.
func (b *bench) prepare(ctx context.Context) error {
	if err := benchkit.PrepareNamespace(ctx, b.node.API, namespace); err != nil {
		return err
	}
	auth := base64.StdEncoding.EncodeToString([]byte(b.reg.Username + ":" + b.reg.Password))
	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{
		b.reg.Host: map[string]string{"username": b.reg.Username, "password": b.reg.Password, "auth": auth},
	}})
	if err != nil {
		return err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}
	if _, err := b.node.API.CoreV1().Secrets(namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating secret %s/%s: %w", namespace, secretName, err)
	}
	b.tr = benchkit.NewTracker()
	return b.tr.Start(ctx, b.node.Watch, namespace)
}

// berth creates a pod from tag (imagePullPolicy Always, the pull secret
// set), waits until it runs and its Pulled event has arrived, then deletes
// it and removes the image, so that the next pull is cold again.
func (b *bench) berth(ctx context.Context, tag, podName string) (berthRun, error) {
	ref := b.img.Ref(tag)
	if err := b.ensureCold(ctx, ref); err != nil {
		return berthRun{}, err
	}
	pods := b.node.API.CoreV1().Pods(namespace)
	r := berthRun{tag: tag, pod: podName}
	b.tr.Track(podName)
	r.start = time.Now()
	p, err := pods.Create(ctx, benchPod(podName, ref), metav1.CreateOptions{})
	r.created = time.Now()
	if err != nil {
		return r, fmt.Errorf("creating pod %s: %w", podName, err)
	}
	b.node.AddUID("berth", string(p.UID))
	if err := b.tr.WaitRunning(ctx, podName, pullTimeout); err != nil {
		return r, err
	}
	ev, err := b.tr.WaitEvent(ctx, podName, "Pulled", eventTimeout)
	if err != nil {
		return r, err
	}
	s := b.tr.Snapshot(podName)
	r.bound, r.running, r.pulled, r.message = s.Bound, s.Running, ev.At, ev.Message
	if pe, ok := s.Events["Pulling"]; ok {
		r.pulling = pe.At
	}
	m := pulledMessage.FindStringSubmatch(ev.Message)
	if m == nil {
		return r, fmt.Errorf("pod %s: the Pulled event does not report a pull (%q): the image was not cold", podName, ev.Message)
	}
	r.reported, _ = time.ParseDuration(m[1])
	r.reportedTotal, _ = time.ParseDuration(m[2])
	r.reportedSize, _ = strconv.ParseInt(m[3], 10, 64)
	b.node.NoteBridge()

	if err := pods.Delete(ctx, podName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return r, fmt.Errorf("deleting pod %s: %w", podName, err)
	}
	if err := b.tr.WaitGone(ctx, podName, goneTimeout); err != nil {
		return r, err
	}
	return r, b.removeImage(ctx, ref)
}

// floor is the same pull straight through CRI on berth's containerd, with
// the credentials of the same secret, then the image's removal.
func (b *bench) floor(ctx context.Context, tag string) (floorRun, error) {
	ref := b.img.Ref(tag)
	if err := b.ensureCold(ctx, ref); err != nil {
		return floorRun{}, err
	}
	r := floorRun{tag: tag}
	// What berth (like the kubelet) sends for a dockerconfigjson entry:
	// the username and password, no server address.
	auth := &runtimeapi.AuthConfig{Username: b.reg.Username, Password: b.reg.Password}
	pctx, cancel := context.WithTimeout(ctx, pullTimeout)
	start := time.Now()
	_, err := b.node.CRI.PullImage(pctx, &runtimeapi.ImageSpec{Image: ref}, auth, nil)
	r.pull = time.Since(start)
	cancel()
	if err != nil {
		return r, fmt.Errorf("CRI PullImage %s: %w", ref, err)
	}
	if st, err := b.node.CRI.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: ref}); err == nil && st != nil {
		r.size = int64(st.Size)
	}
	return r, b.removeImage(ctx, ref)
}

// removeImage waits until no container uses the image of ref (berth
// removes a deleted pod's containers after the pod is gone from the API),
// then removes it through CRI, every tag of it included: containerd then
// deletes its content and snapshots synchronously.
func (b *bench) removeImage(ctx context.Context, ref string) error {
	st, err := b.node.CRI.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: ref})
	if err != nil {
		return fmt.Errorf("image status of %s: %w", ref, err)
	}
	if st == nil {
		return fmt.Errorf("%s is not in containerd after its pull", ref)
	}
	deadline := time.Now().Add(goneTimeout)
	for {
		cs, err := b.node.CRI.ListContainers(ctx, nil)
		if err != nil {
			return fmt.Errorf("listing containers: %w", err)
		}
		var users []string
		for _, c := range cs {
			if c.ImageRef == st.Id || c.GetImage().GetImage() == st.Id || c.GetImage().GetImage() == ref {
				users = append(users, c.Id[:min(12, len(c.Id))]+" ("+c.GetState().String()+")")
			}
		}
		if len(users) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containers %s still use %s %s after the pod was deleted", strings.Join(users, ", "), ref, goneTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := b.node.CRI.RemoveImage(ctx, &runtimeapi.ImageSpec{Image: st.Id}); err != nil {
		return fmt.Errorf("removing %s (%s): %w", ref, st.Id, err)
	}
	return nil
}

// ensureCold checks that the next pull of ref downloads everything: the
// image is not in containerd and none of its blobs is in the content
// store (GC after RemoveImage is synchronous; a short wait covers a slow
// disk).
func (b *bench) ensureCold(ctx context.Context, ref string) error {
	st, err := b.node.CRI.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: ref})
	if err != nil {
		return fmt.Errorf("image status of %s: %w", ref, err)
	}
	if st != nil {
		return fmt.Errorf("%s is already in containerd before its pull (%s)", ref, st.Id)
	}
	contentDir := b.contentDir()
	if _, err := os.Stat(contentDir); err != nil {
		return nil // not berth's own containerd layout: only the CRI check above
	}
	b.coldChecked = true
	deadline := time.Now().Add(10 * time.Second)
	for {
		var present []string
		for _, d := range b.img.Blobs {
			hex, ok := strings.CutPrefix(d, "sha256:")
			if !ok {
				continue
			}
			if _, err := os.Stat(filepath.Join(contentDir, "blobs", "sha256", hex)); err == nil {
				present = append(present, d)
			}
		}
		if len(present) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("blobs %s are still in containerd's content store after the image's removal: the pull of %s would not be cold",
				strings.Join(present, ", "), ref)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// benchPod is the pod every berth run creates: one container from the
// pushed image, pulled on every start, with the registry's secret.
func benchPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench-pull"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			ImagePullSecrets:              []corev1.LocalObjectReference{{Name: secretName}},
			Containers: []corev1.Container{{
				Name:            "app",
				Image:           image,
				ImagePullPolicy: corev1.PullAlways,
				Command:         []string{"sh", "-c", containerScript},
			}},
		},
	}
}
