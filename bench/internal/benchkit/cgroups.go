package benchkit

import (
	"os"
	"path/filepath"
)

// removePodCgroups removes the (empty) cgroup directories of the given pod
// UIDs, /sys/fs/cgroup/<controller>/berth/pod<uid> and below, deepest
// first: neither containerd nor runc removes a pod's cgroup parent (the
// kubelet does). rmdir only succeeds on a cgroup without processes. It
// returns how many of the pods had directories left.
func removePodCgroups(uids []string) int {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/berth")
	if _, err := os.Stat("/sys/fs/cgroup/berth"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/berth") // cgroup v2
	}
	n := 0
	for _, uid := range uids {
		removed := false
		for _, root := range roots {
			dir := filepath.Join(root, "pod"+uid)
			var dirs []string
			_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				if os.Remove(dirs[i]) == nil && dirs[i] == dir {
					removed = true
				}
			}
		}
		if removed {
			n++
		}
	}
	return n
}
