package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath is the kubelet's hostPath SetUp: the path may not step
// back with `..`, and when a type is given the path must be of that type
// (DirectoryOrCreate and FileOrCreate create a missing one first).
func checkHostPath(src *corev1.HostPathVolumeSource) error {
	if err := noBacksteps(src.Path); err != nil {
		return fmt.Errorf("invalid HostPath `%s`: %v", src.Path, err)
	}
	t := corev1.HostPathUnset
	if src.Type != nil {
		t = *src.Type
	}
	path := src.Path
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists(path) {
			return os.MkdirAll(path, 0o755)
		}
		return typeMatched(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathDirectory:
		return typeMatched(path, corev1.HostPathDirectory, "directory")
	case corev1.HostPathFileOrCreate:
		if !exists(path) {
			f, err := os.OpenFile(path, os.O_CREATE, 0o644)
			if f != nil {
				_ = f.Close()
			}
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			return nil
		}
		return typeMatched(path, corev1.HostPathFile, "file")
	case corev1.HostPathFile:
		return typeMatched(path, corev1.HostPathFile, "file")
	case corev1.HostPathSocket:
		return typeMatched(path, corev1.HostPathSocket, "socket file")
	case corev1.HostPathCharDev:
		return typeMatched(path, corev1.HostPathCharDev, "character device")
	case corev1.HostPathBlockDev:
		return typeMatched(path, corev1.HostPathBlockDev, "block device")
	default:
		return fmt.Errorf("%s is an invalid volume type", t)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func typeMatched(path string, want corev1.HostPathType, desc string) error {
	if !exists(path) {
		return fmt.Errorf("hostPath %s doesn't exist", path)
	}
	got, err := fileType(path)
	if err != nil {
		return fmt.Errorf("hostPath type check failed, %s is not a %s, unable to determine its type: %w", path, desc, err)
	}
	if got != want {
		return fmt.Errorf("hostPath type check failed: %s is not a %s, it's a %s", path, desc, got)
	}
	return nil
}

// fileType is the kubelet's hostutil GetFileType (symlinks followed).
func fileType(path string) (corev1.HostPathType, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	mode := info.Mode()
	switch {
	case mode.IsDir():
		return corev1.HostPathDirectory, nil
	case mode&os.ModeSocket != 0:
		return corev1.HostPathSocket, nil
	case mode&os.ModeDevice != 0 && mode&os.ModeCharDevice != 0:
		return corev1.HostPathCharDev, nil
	case mode&os.ModeDevice != 0:
		return corev1.HostPathBlockDev, nil
	case mode.IsRegular():
		return corev1.HostPathFile, nil
	}
	return "", errors.New("only recognise file, directory, socket, block device and character device")
}

// noBacksteps is validation.ValidatePathNoBacksteps.
func noBacksteps(p string) error {
	for _, item := range strings.Split(filepath.ToSlash(p), "/") {
		if item == ".." {
			return errors.New("must not contain '..'")
		}
	}
	return nil
}
