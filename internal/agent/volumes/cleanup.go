package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Cleanup removes the volumes of a deleted pod whose directory is podDir:
// it stops tracking the pod, unmounts every mount under
// <podDir>/volumes (tmpfs first, so that nothing is deleted through a
// mount) and removes that directory. Host paths are never touched. A
// missing directory is not an error; call it once the pod's containers are
// gone.
func (m *Manager) Cleanup(podDir string) error {
	podDir = filepath.Clean(podDir)
	m.mu.Lock()
	var states []*podVolumes
	for uid, st := range m.pods {
		if st.podDir == podDir {
			states = append(states, st)
			delete(m.pods, uid)
			delete(m.dirty, uid)
		}
	}
	m.mu.Unlock()
	for _, st := range states {
		st.mu.Lock() // wait for a set-up or refresh in progress
		st.removed = true
		st.mu.Unlock()
	}

	// The subPath bind mounts first: they hold files of the volumes.
	for _, sub := range []string{"volume-subpaths", "volumes"} {
		if err := m.unmountAndRemove(filepath.Join(podDir, sub)); err != nil {
			return err
		}
	}
	return nil
}

// unmountAndRemove unmounts every mount under dir, then removes it.
func (m *Manager) unmountAndRemove(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("cleaning up volumes: %w", err)
	}
	mps, err := m.mnt.MountPointsUnder(real)
	if err != nil {
		return fmt.Errorf("cleaning up volumes: listing mounts: %w", err)
	}
	for _, mp := range mps {
		if err := m.mnt.Unmount(mp); err != nil {
			return fmt.Errorf("cleaning up volumes: %w", err)
		}
		m.log.Debug("unmounted", "path", mp)
	}
	if mps, err := m.mnt.MountPointsUnder(real); err != nil || len(mps) > 0 {
		return fmt.Errorf("cleaning up volumes: %s still has mounts %v (%v)", real, mps, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cleaning up volumes: %w", err)
	}
	return nil
}
