//go:build unix && !linux

package benchkit

import "syscall"

// childAttrs puts a child in its own process group (see child_linux.go;
// only Linux can also tie its life to the benchmark's).
func childAttrs(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
