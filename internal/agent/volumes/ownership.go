package volumes

import (
	"io/fs"
	"os"
	"path/filepath"
)

// setOwnership is the kubelet's SetVolumeOwnership for a pod with an
// fsGroup: every file and directory of the volume (symlinks excepted)
// gets the group, group read (and write, unless readOnly) permission, and
// directories the setgid bit, so new files inherit the group.
func setOwnership(dir string, gid *int64, readOnly bool) error {
	if gid == nil {
		return nil
	}
	mask := os.FileMode(0o660)
	if readOnly {
		mask = 0o440
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, int(*gid)); err != nil {
			return err
		}
		m := mask
		if info.IsDir() {
			m |= os.ModeSetgid | 0o110
		}
		mode := info.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) | m
		return os.Chmod(path, mode)
	})
}
