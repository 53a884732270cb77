package benchkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// BusyboxPath is the static busybox the benchmarks' images are built from.
const BusyboxPath = testregistry.BusyboxPath

// FindBinary returns the absolute path of the berth binary at path, or an
// error that says how to build it.
func FindBinary(path string) (string, error) {
	bin, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return "", fmt.Errorf("%s not found: run make build first (or pass -bin PATH)", path)
	}
	return bin, nil
}

// CheckNodeTools fails early, and clearly, when something a benchmark with
// a berth node and a registry needs is missing (berth itself reports
// containerd, runc and CNI problems).
func CheckNodeTools() error {
	for _, t := range []struct{ path, pkg string }{
		{"docker-registry", "docker-registry"},
		{"containerd", "containerd"},
		{"runc", "runc"},
		{"ip", "iproute2"},
	} {
		if _, err := exec.LookPath(t.path); err != nil {
			return fmt.Errorf("%s not found on PATH (apt-get install %s)", t.path, t.pkg)
		}
	}
	if _, err := os.Stat(BusyboxPath); err != nil {
		return fmt.Errorf("the test image is built from %s (apt-get install busybox-static): %w", BusyboxPath, err)
	}
	return nil
}
