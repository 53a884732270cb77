package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/imageref"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ImageEnsurer makes a container's image present according to its pull
// policy and returns the image reference to create the container from.
// Failures are *reasonError values carrying the kubelet's waiting reason.
type ImageEnsurer interface {
	EnsureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandbox *runtimeapi.PodSandboxConfig, rec record.EventRecorder) (string, error)
}

// reasonError is a start failure with the waiting reason Kubernetes shows
// (ErrImagePull, ImagePullBackOff, ErrImageNeverPull, InvalidImageName, …).
type reasonError struct{ reason, message string }

func (e *reasonError) Error() string { return e.reason + ": " + e.message }

// NewReasonError lets other packages (the image manager) report a reason.
func NewReasonError(reason, message string) error { return &reasonError{reason, message} }

// simpleImages is the default image manager: pull policy, events and the
// per-image back-off, pulling anonymously. The credential-aware manager
// (internal/agent/images) replaces it.
type simpleImages struct {
	rt cri.Runtime
	mu sync.Mutex
	bo *backoff
	// last holds the previous failure per back-off key, for the message.
	last map[string]string
}

func (m *simpleImages) EnsureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandbox *runtimeapi.PodSandboxConfig, rec record.EventRecorder) (string, error) {
	m.mu.Lock()
	if m.bo == nil {
		m.bo, m.last = newBackoff(), map[string]string{}
	}
	m.mu.Unlock()
	ref, err := imageref.Parse(c.Image)
	if err != nil {
		rec.Eventf(pod, corev1.EventTypeWarning, "InspectFailed", "Failed to apply default image tag %q: %v", c.Image, err)
		return "", &reasonError{"InvalidImageName", fmt.Sprintf("Failed to apply default image tag %q: %v", c.Image, err)}
	}
	image := c.Image
	if ref.Digest == "" && !hasSuffixTag(image, ref.Tag) {
		image += ":" + ref.Tag
	}
	spec := &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: c.Image}
	if c.ImagePullPolicy != corev1.PullAlways {
		st, err := m.rt.ImageStatus(ctx, spec)
		if err != nil {
			rec.Eventf(pod, corev1.EventTypeWarning, "InspectFailed", "Failed to inspect image %q: %v", "", err)
			return "", &reasonError{"ImageInspectError", fmt.Sprintf("Failed to inspect image %q: %v", "", err)}
		}
		if st != nil {
			rec.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			return st.Id, nil
		}
		if c.ImagePullPolicy == corev1.PullNever {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			rec.Event(pod, corev1.EventTypeWarning, "ErrImageNeverPull", msg)
			return "", &reasonError{"ErrImageNeverPull", msg}
		}
	}
	key := string(pod.UID) + "_" + c.Image
	m.mu.Lock()
	prev := m.last[key]
	m.mu.Unlock()
	if prev != "" {
		if in, _ := m.bo.inBackoff(key, m.bo.updatedAt(key)); in {
			rec.Eventf(pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
			return "", &reasonError{"ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q: %s", c.Image, prev)}
		}
	}
	rec.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := time.Now()
	id, err := m.rt.PullImage(ctx, spec, nil, sandbox)
	if err != nil {
		rec.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		m.bo.next(key)
		m.mu.Lock()
		m.last[key] = "ErrImagePull: " + err.Error()
		m.mu.Unlock()
		return "", &reasonError{"ErrImagePull", err.Error()}
	}
	d := time.Since(start).Truncate(time.Millisecond)
	size := uint64(0)
	if st, err := m.rt.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: id}); err == nil && st != nil {
		size = st.Size
	}
	rec.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", c.Image, d, d, size)
	m.mu.Lock()
	delete(m.last, key)
	m.mu.Unlock()
	return id, nil
}

func hasSuffixTag(image, tag string) bool {
	return len(image) > len(tag) && image[len(image)-len(tag)-1:] == ":"+tag
}

// updatedAt is when key last failed (the image back-off's reference time).
func (b *backoff) updatedAt(key string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.updated
	}
	return time.Time{}
}
