package benchkit

import "syscall"

// childAttrs puts a child (the server, the registry) in its own process
// group, so a Ctrl-C in the terminal reaches only the benchmark (which then
// cleans up in order, and can time the server's stop), and has the kernel
// send it deathSig should the benchmark die without cleaning up.
func childAttrs(deathSig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
}
