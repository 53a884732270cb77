package main

import "syscall"

// childAttrs puts the server in its own process group, so a Ctrl-C in the
// terminal reaches only the benchmark (which then stops the server itself,
// and can time the stop), and has the kernel send it SIGTERM should the
// benchmark die without cleaning up.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
