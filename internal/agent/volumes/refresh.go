package volumes

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Run refreshes the configMap, secret, projected and downwardAPI volumes
// of tracked pods until ctx ends: every Resync, and soon after Track sees
// a pod's labels, annotations or resources change. Each ConfigMap and
// Secret is read once per round; a volume whose payload differs from what
// was last written is rewritten atomically (one rename swaps `..data`), so
// running containers see the new files. When a source cannot be read the
// old files stay and the error is logged once. Run returns nil.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.refresh(ctx, nil)
		case <-m.kick:
			m.mu.Lock()
			dirty := m.dirty
			m.dirty = map[types.UID]bool{}
			m.mu.Unlock()
			m.refresh(ctx, dirty)
		}
	}
}

// refresh rewrites the tracked pods' volumes whose content changed; only
// the pods in only when it is non-nil.
func (m *Manager) refresh(ctx context.Context, only map[types.UID]bool) {
	m.mu.Lock()
	pods := make([]*podVolumes, 0, len(m.pods))
	for uid, st := range m.pods {
		if only == nil || only[uid] {
			pods = append(pods, st)
		}
	}
	m.mu.Unlock()
	src := newMemoSources(m.src)
	for _, st := range pods {
		if ctx.Err() != nil {
			return
		}
		m.refreshPod(ctx, src, st)
	}
}

func (m *Manager) refreshPod(ctx context.Context, src sources, st *podVolumes) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.removed {
		return
	}
	pod := m.currentPod(st)
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if atomic, _ := projectedKind(v); !atomic {
			continue
		}
		dir := volumeDir(st.podDir, v)
		if _, err := os.Lstat(filepath.Join(dir, dataDirName)); err != nil {
			continue // never set up: Mounts does that
		}
		wrote, err := m.project(ctx, src, st, pod, v, dir, true)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if st.lastErr[v.Name] != err.Error() {
				st.lastErr[v.Name] = err.Error()
				m.log.Warn("volume refresh failed; keeping the files it has", "pod", podRef(pod), "volume", v.Name, "err", err)
			}
			continue
		}
		if st.lastErr[v.Name] != "" {
			delete(st.lastErr, v.Name)
			m.log.Info("volume refresh recovered", "pod", podRef(pod), "volume", v.Name)
		}
		if wrote {
			m.log.Info("volume updated", "pod", podRef(pod), "volume", v.Name)
		}
	}
}
