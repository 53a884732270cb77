package volumes

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// mounter is what the Manager needs from the kernel's mount table; tests
// replace it to exercise the fallbacks without root.
type mounter interface {
	// MountTmpfs mounts a tmpfs at dir; size 0 leaves the kernel's default.
	MountTmpfs(dir string, size int64) error
	// IsMountPoint reports whether dir is the root of a mount.
	IsMountPoint(dir string) (bool, error)
	// MountPointsUnder lists the mount points at or below dir, deepest
	// first.
	MountPointsUnder(dir string) ([]string, error)
	// Unmount unmounts dir, detaching it lazily if it is busy.
	Unmount(dir string) error
	// BindFd bind mounts the file open at fd (an O_PATH descriptor) on
	// target, which exists and is of the same kind.
	BindFd(fd int, target string) error
}

// mountPointsFrom parses /proc/self/mountinfo and returns the mount points
// at or below dir, deepest first.
func mountPointsFrom(mountinfo []byte, dir string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(mountinfo), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		mp := unescapeOctal(fields[4])
		if (mp == dir || strings.HasPrefix(mp, dir+"/")) && !seen[mp] {
			seen[mp] = true
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		di, dj := strings.Count(out[i], "/"), strings.Count(out[j], "/")
		if di != dj {
			return di > dj
		}
		return out[i] < out[j]
	})
	return out
}

// unescapeOctal undoes mountinfo's `\040`-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// memoryVolumeSize is the kubelet's calculateEmptyDirMemorySize
// (SizeMemoryBackedVolumes): the node's allocatable memory, lowered to the
// pod's memory limit when it has one, lowered to sizeLimit when set.
// 0 means no size option.
func memoryVolumeSize(pod *corev1.Pod, sizeLimit int64, alloc corev1.ResourceList) int64 {
	var size int64
	if q, ok := alloc[corev1.ResourceMemory]; ok {
		size = q.Value()
	}
	lower := func(v int64) {
		if v > 0 && (size <= 0 || v <= size) {
			size = v
		}
	}
	lower(podMemoryLimit(pod))
	lower(sizeLimit)
	return size
}

// podMemoryLimit is the memory limit of the pod's cgroup: the pod-level
// limit, else the larger of the app containers plus sidecars and of each
// init container plus the sidecars started before it, plus the overhead;
// 0 when some container has no limit.
func podMemoryLimit(pod *corev1.Pod) int64 {
	if r := pod.Spec.Resources; r != nil {
		if q, ok := r.Limits[corev1.ResourceMemory]; ok && !q.IsZero() {
			return q.Value()
		}
	}
	limitOf := func(c *corev1.Container) (int64, bool) {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0, false
		}
		return q.Value(), true
	}
	var apps, sidecars, initMax int64
	for i := range pod.Spec.Containers {
		l, ok := limitOf(&pod.Spec.Containers[i])
		if !ok {
			return 0
		}
		apps += l
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		l, ok := limitOf(c)
		if !ok {
			return 0
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars += l
			initMax = max(initMax, sidecars)
			continue
		}
		initMax = max(initMax, sidecars+l)
	}
	limit := max(apps+sidecars, initMax)
	if q, ok := pod.Spec.Overhead[corev1.ResourceMemory]; ok {
		limit += q.Value()
	}
	return limit
}

func tmpfsOptions(size int64) string {
	if size <= 0 {
		return ""
	}
	return fmt.Sprintf("size=%d", size)
}
