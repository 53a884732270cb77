package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// emptyDir sizeLimit enforcement, as the kubelet's eviction manager
// (emptyDirLimitEviction): every evictionInterval the disk usage of each
// disk-backed emptyDir with a sizeLimit is measured, and a pod over a
// limit is evicted — an Evicted event, its containers killed with a 1 s
// grace period, phase Failed with reason Evicted and the kubelet's
// message. Memory-backed emptyDirs are tmpfs mounts of that size: the
// kernel enforces their limit.

// evictionInterval is the kubelet's eviction monitoring period.
const evictionInterval = 10 * time.Second

// evictionReason and the message formats are the kubelet's.
const (
	evictionReason           = "Evicted"
	emptyDirMessageFmt       = "Usage of EmptyDir volume %q exceeds the limit %q. "
	podEphemeralMessageFmt   = "Pod ephemeral local storage usage exceeds the total limit of containers %s. "
	containerEphemeralMsgFmt = "Container %s exceeded its local ephemeral storage limit %q. "
)

func (a *Agent) runEviction(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.checkLocalStorage()
		}
	}
}

// checkLocalStorage asks the worker of every pod over an emptyDir limit or
// its ephemeral-storage limits to evict it.
func (a *Agent) checkLocalStorage() {
	a.mu.Lock()
	workers := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		pod, err := a.pods.Pods(w.namespace).Get(w.name)
		if err != nil || pod.UID != w.uid || pod.DeletionTimestamp != nil || isTerminal(pod) {
			continue
		}
		msg := a.emptyDirOverLimit(pod)
		if msg == "" {
			msg = a.ephemeralStorageOverLimit(pod)
		}
		if msg != "" {
			w.requestEviction(msg)
		}
	}
}

// emptyDirOverLimit returns the eviction message of the first disk-backed
// emptyDir of pod whose usage exceeds its sizeLimit, or "".
func (a *Agent) emptyDirOverLimit(pod *corev1.Pod) string {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.EmptyDir == nil || v.EmptyDir.Medium == corev1.StorageMediumMemory || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.Sign() != 1 {
			continue
		}
		limit := v.EmptyDir.SizeLimit.Value()
		dir := filepath.Join(a.podDir(pod), "volumes", "kubernetes.io~empty-dir", v.Name)
		if diskUsageOver(dir, limit) {
			return fmt.Sprintf(emptyDirMessageFmt, v.Name, v.EmptyDir.SizeLimit.String())
		}
	}
	return ""
}

// diskUsageOver reports whether the space the files under dir take
// exceeds limit.
func diskUsageOver(dir string, limit int64) bool { return diskUsage(dir, limit) > limit }

// diskUsage is the space the files under dir take, as du counts it
// (allocated blocks, hard links once). The walk stops once the total
// exceeds stopAbove (≤ 0: never), so a huge volume costs no more than the
// limit it is checked against.
func diskUsage(dir string, stopAbove int64) int64 {
	var used int64
	seen := map[uint64]bool{}
	over := errors.New("over")
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished meanwhile, or unreadable: not counted
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			used += info.Size()
		} else {
			if st.Nlink > 1 && !info.IsDir() {
				if seen[st.Ino] {
					return nil
				}
				seen[st.Ino] = true
			}
			used += st.Blocks * 512
		}
		if stopAbove > 0 && used > stopAbove {
			return over
		}
		return nil
	})
	return used
}

// requestEviction has the worker evict its pod at its next sync.
func (w *podWorker) requestEviction(msg string) {
	w.mu.Lock()
	if w.evictMsg == "" {
		w.evictMsg = msg
	}
	w.mu.Unlock()
	w.poke()
}

// evictionPending returns the eviction message, once; evicted reports a
// pod already evicted (its Failed status may not have reached the
// informer yet: it must not be restarted meanwhile).
func (w *podWorker) evictionPending() (msg string, evicted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	msg, w.evictMsg = w.evictMsg, ""
	if msg != "" {
		w.evicted = true
		return msg, false
	}
	return "", w.evicted
}

// evict is the kubelet's evictPod: the event, the kill with a 1 s grace
// period, then phase Failed, reason Evicted.
func (w *podWorker) evict(ctx context.Context, pod *corev1.Pod, rt *podRuntime, msg string) {
	a := w.a
	a.recorder.Event(pod, corev1.EventTypeWarning, evictionReason, msg)
	grace := int64(1)
	if err := a.killPod(ctx, pod, rt, &grace); err != nil {
		a.log.Warn("evicting a pod", "pod", podKey(pod), "err", err)
	}
	if rt2, err := a.runtimeOf(ctx, string(pod.UID)); err == nil {
		rt = rt2
	}
	pod.Status.Phase = corev1.PodFailed
	pod.Status.Reason = evictionReason
	pod.Status.Message = msg
	a.updateStatus(ctx, pod, rt, nil, w.reasons)
}

// writableLayerReader is the part of the CRI client the ephemeral-storage
// check needs; a runtime without it (the fake) is not checked.
type writableLayerReader interface {
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	ContainerStatus(ctx context.Context, containerID string) (*runtimeapi.ContainerStatus, error)
	WritableLayerBytes(ctx context.Context, containerID string) (uint64, error)
}

// ephemeralStorageOverLimit is the kubelet's podEphemeralStorageLimitEviction
// and containerEphemeralStorageLimitEviction, in its order: the pod's usage
// (its containers' writable layers and logs, and its disk-backed emptyDirs)
// against the sum of its containers' ephemeral-storage limits, then each
// container's writable layer and logs against its own limit. It returns the
// kubelet's message, or "".
func (a *Agent) ephemeralStorageOverLimit(pod *corev1.Pod) string {
	limits := map[string]resource.Quantity{}
	var total resource.Quantity
	for _, c := range pod.Spec.Containers {
		if q, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]; ok {
			limits[c.Name] = q
			total.Add(q)
		}
	}
	r, ok := a.cfg.Runtime.(writableLayerReader)
	if len(limits) == 0 || !ok {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cs, err := r.ListContainers(ctx, &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{labelPodUID: string(pod.UID)},
	})
	if err != nil {
		return ""
	}
	used := map[string]int64{}
	var podUsed int64
	for _, c := range cs {
		n, err := r.WritableLayerBytes(ctx, c.GetId())
		if err != nil {
			continue
		}
		u := int64(n)
		if st, err := r.ContainerStatus(ctx, c.GetId()); err == nil && st.GetLogPath() != "" {
			if fi, err := os.Stat(st.GetLogPath()); err == nil {
				u += fi.Size()
			}
		}
		used[c.GetMetadata().GetName()] += u
		podUsed += u
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.EmptyDir != nil && v.EmptyDir.Medium != corev1.StorageMediumMemory {
			podUsed += diskUsage(filepath.Join(a.podDir(pod), "volumes", "kubernetes.io~empty-dir", v.Name), 0)
		}
	}
	if podUsed > total.Value() {
		return fmt.Sprintf(podEphemeralMessageFmt, total.String())
	}
	for _, c := range pod.Spec.Containers {
		if q, ok := limits[c.Name]; ok && used[c.Name] > q.Value() {
			return fmt.Sprintf(containerEphemeralMsgFmt, c.Name, q.String())
		}
	}
	return ""
}
