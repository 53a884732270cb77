package main

import "syscall"

// childAttrs puts a child (the server, the registry) in its own process
// group, so a Ctrl-C in the terminal reaches only the benchmark (which then
// cleans up in order: pods first, then the server), and has the kernel send
// it sig should the benchmark die without cleaning up.
func childAttrs(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}
