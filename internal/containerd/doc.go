// Package containerd runs containerd as berth's child process.
//
// Run writes a generated config.toml and CNI conflist under the data dir,
// starts containerd in its own process group (log in
// DataDir/containerd/containerd.log), waits until CRI answers, imports
// berth's pause image, and then reports Ready. If containerd exits it is
// restarted with back-off. When the context ends containerd gets SIGTERM
// (SIGKILL after 5 s); the runc shims are not signalled, so pods keep
// running and the next start with the same data dir adopts them.
//
// Layout under the data dir:
//
//	containerd/config.toml              generated on every start
//	containerd/containerd.sock[.ttrpc]  CRI endpoint: Endpoint()
//	containerd/root, state, opt, runc   containerd's and runc's own state
//	containerd/certs.d/<host>/hosts.toml  registry hosts (config_path)
//	containerd/containerd.log           containerd's stdout and stderr
//	cni/net.d/10-<network>.conflist     bridge + host-local + portmap
//	cni/ipam/<network>/                 host-local leases
//
// The pause image (PauseImageRef) holds a hand-assembled static x86-64
// program of a few hundred bytes (pause.go), packaged as a deterministic
// OCI image (image.go): its ID is the same on every run and machine.
//
// Shared host paths that containerd 1.6 does not let us move are used side
// by side with other runtimes: /run/containerd/s (shim sockets, hashed by
// our socket path), /run/netns, /var/lib/cni (keyed by network name, hence
// the per-data-dir network name) and the CNI-HOSTPORT iptables chains.
package containerd
