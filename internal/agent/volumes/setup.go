package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's plugin directory names, under <podDir>/volumes.
const (
	pluginEmptyDir    = "kubernetes.io~empty-dir"
	pluginConfigMap   = "kubernetes.io~configmap"
	pluginSecret      = "kubernetes.io~secret"
	pluginDownwardAPI = "kubernetes.io~downward-api"
	pluginProjected   = "kubernetes.io~projected"
)

// volumeDir is where the volume lives on the host, "" for types with no
// directory of their own (hostPath) or that berth does not serve.
func volumeDir(podDir string, v *corev1.Volume) string {
	plugin := ""
	switch {
	case v.EmptyDir != nil:
		plugin = pluginEmptyDir
	case v.ConfigMap != nil:
		plugin = pluginConfigMap
	case v.Secret != nil:
		plugin = pluginSecret
	case v.DownwardAPI != nil:
		plugin = pluginDownwardAPI
	case v.Projected != nil:
		plugin = pluginProjected
	default:
		return ""
	}
	return filepath.Join(podDir, "volumes", plugin, v.Name)
}

// projectedKind reports whether the volume is written by the atomic writer,
// and whether it belongs on tmpfs (it may hold secrets).
func projectedKind(v *corev1.Volume) (atomic, memory bool) {
	switch {
	case v.Secret != nil, v.Projected != nil:
		return true, true
	case v.ConfigMap != nil, v.DownwardAPI != nil:
		return true, false
	}
	return false, false
}

// setUp prepares one volume and returns its host path.
func (m *Manager) setUp(ctx context.Context, src sources, st *podVolumes, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	switch {
	case v.HostPath != nil:
		if err := checkHostPath(v.HostPath); err != nil {
			return "", err
		}
		return v.HostPath.Path, nil
	case v.EmptyDir != nil:
		return m.setUpEmptyDir(pod, v, volumeDir(st.podDir, v))
	}
	atomic, memory := projectedKind(v)
	if !atomic {
		return "", fmt.Errorf("volume type %q is not supported by berth (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)", sourceKind(v))
	}
	dir := volumeDir(st.podDir, v)
	if err := m.makeAtomicDir(pod, v, dir, memory); err != nil {
		return "", err
	}
	if _, err := m.project(ctx, src, st, pod, v, dir, false); err != nil {
		return "", err
	}
	return dir, nil
}

// setUpEmptyDir creates the directory, world-writable as the kubelet makes
// it, and for medium Memory mounts a tmpfs on it, sized like the kubelet's.
// Existing content is kept: an emptyDir lives as long as the pod.
func (m *Manager) setUpEmptyDir(pod *corev1.Pod, v *corev1.Volume, dir string) (string, error) {
	medium := v.EmptyDir.Medium
	if medium != corev1.StorageMediumDefault && medium != corev1.StorageMediumMemory {
		return "", fmt.Errorf("emptyDir medium %q is not supported by berth", medium)
	}
	created, err := makeVolumeDir(dir, 0o777, 0o750)
	if err != nil {
		return "", err
	}
	fresh := created
	if medium == corev1.StorageMediumMemory {
		mounted, err := m.mnt.IsMountPoint(dir)
		if err != nil {
			return "", fmt.Errorf("checking mount of %s: %w", dir, err)
		}
		if !mounted {
			var limit int64
			if v.EmptyDir.SizeLimit != nil {
				limit = v.EmptyDir.SizeLimit.Value()
			}
			size := memoryVolumeSize(pod, limit, m.alloc)
			if err := m.mnt.MountTmpfs(dir, size); err != nil {
				return "", fmt.Errorf("mounting tmpfs for emptyDir: %w", err)
			}
			m.log.Debug("mounted tmpfs", "pod", podRef(pod), "volume", v.Name, "size", size)
			fresh = true
		}
	}
	if fresh {
		if err := setOwnership(dir, fsGroup(pod), false); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// makeAtomicDir creates the directory of a configMap, secret, downwardAPI
// or projected volume. Memory-backed ones (secret, projected) get a tmpfs;
// when it cannot be mounted they stay on disk, under a plugin directory
// only root may enter (which containers never need: they see the volume
// through a bind mount), and the Manager says so once.
func (m *Manager) makeAtomicDir(pod *corev1.Pod, v *corev1.Volume, dir string, memory bool) error {
	parentMode := os.FileMode(0o750)
	if memory {
		parentMode = 0o700
	}
	if _, err := makeVolumeDir(dir, 0o755, parentMode); err != nil {
		return err
	}
	if !memory {
		return nil
	}
	mounted, err := m.mnt.IsMountPoint(dir)
	if err != nil {
		return fmt.Errorf("checking mount of %s: %w", dir, err)
	}
	if mounted {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(dir, dataDirName)); err == nil {
		return nil // set up on disk before: keep it there
	}
	if err := m.mnt.MountTmpfs(dir, memoryVolumeSize(pod, 0, m.alloc)); err != nil {
		m.tmpfsWarn.Do(func() {
			m.log.Warn("cannot mount tmpfs: secret and projected volumes are written to disk instead, under directories only root can enter",
				"err", err)
		})
		m.log.Debug("volume on disk instead of tmpfs", "pod", podRef(pod), "volume", v.Name)
	}
	return nil
}

// makeVolumeDir creates dir with mode (whatever the umask) and its missing
// parents with parentMode; the plugin directory right above dir is given
// parentMode even when it exists. It reports whether dir was created.
func makeVolumeDir(dir string, mode, parentMode os.FileMode) (bool, error) {
	plugin := filepath.Dir(dir)
	if err := os.MkdirAll(plugin, parentMode); err != nil {
		return false, err
	}
	if err := os.Chmod(plugin, parentMode); err != nil {
		return false, err
	}
	err := os.Mkdir(dir, mode)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, os.Chmod(dir, mode)
}

// project computes the volume's payload and writes it with the atomic
// writer. With trustDigest, a payload equal to the last one written is not
// compared with the disk again (the refresh loop); without, the writer
// compares (set-up, which also repairs a tampered volume). It reports
// whether files changed.
func (m *Manager) project(ctx context.Context, src sources, st *podVolumes, pod *corev1.Pod, v *corev1.Volume, dir string, trustDigest bool) (bool, error) {
	p, err := m.payload(ctx, src, st, pod, v)
	if err != nil {
		return false, err
	}
	d := p.digest()
	if trustDigest && st.written[v.Name] == d {
		return false, nil
	}
	wrote, err := writeAtomic(dir, p, m.now())
	if err != nil {
		return wrote, fmt.Errorf("writing volume files: %w", err)
	}
	if wrote {
		if err := setOwnership(dir, fsGroup(pod), true); err != nil {
			return wrote, err
		}
	}
	st.written[v.Name] = d
	return wrote, nil
}

// payload is the files a configMap, secret, downwardAPI or projected
// volume holds now.
func (m *Manager) payload(ctx context.Context, src sources, st *podVolumes, pod *corev1.Pod, v *corev1.Volume) (payload, error) {
	switch {
	case v.ConfigMap != nil:
		s := v.ConfigMap
		opt := isOptional(s.Optional)
		cm, err := getConfigMap(ctx, src, pod.Namespace, s.Name, opt)
		if err != nil {
			return nil, err
		}
		return configMapPayload(s.Items, cm, defaultMode(s.DefaultMode), opt)
	case v.Secret != nil:
		s := v.Secret
		opt := isOptional(s.Optional)
		sec, err := getSecret(ctx, src, pod.Namespace, s.SecretName, opt)
		if err != nil {
			return nil, err
		}
		return secretPayload(s.Items, sec, defaultMode(s.DefaultMode), opt)
	case v.DownwardAPI != nil:
		return downwardAPIPayload(v.DownwardAPI.Items, pod, defaultMode(v.DownwardAPI.DefaultMode), m.alloc)
	case v.Projected != nil:
		skipped := func(kind, path string) {
			key := v.Name + "/" + kind + "/" + path
			if st.noted[key] {
				return
			}
			st.noted[key] = true
			m.log.Info("skipping projected "+kind+" source: berth has no API for it yet, so the file is not written",
				"pod", podRef(pod), "volume", v.Name, "path", path)
		}
		return projectedPayload(ctx, src, pod, v.Projected, m.alloc, skipped)
	}
	return nil, fmt.Errorf("volume %q has no projected content", v.Name)
}

func fsGroup(pod *corev1.Pod) *int64 {
	if pod.Spec.SecurityContext == nil {
		return nil
	}
	return pod.Spec.SecurityContext.FSGroup
}
