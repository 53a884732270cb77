package main

import (
	"strings"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// memSample is the resident memory of berth and of its runtime.
type memSample struct {
	berth, containerd int64 // VmRSS, bytes; -1 unknown
	shims             int   // containerd-shim processes of this containerd
	shimRSS           int64
}

func (e *env) memory() memSample {
	m := memSample{berth: benchkit.RSS(e.Server.Pid()), containerd: -1}
	if e.ContainerdPID > 0 {
		m.containerd = benchkit.RSS(e.ContainerdPID)
	}
	m.shims, m.shimRSS = shims(e.Sock)
	return m
}

// shims are the containerd-shim processes serving the containerd whose
// socket is sock (one per sandbox with runc v2), and their summed VmRSS.
func shims(sock string) (n int, total int64) {
	for _, p := range benchkit.Processes() {
		if !strings.HasPrefix(p.Comm, "containerd-shim") {
			continue
		}
		ours := false
		for i, a := range p.Cmdline {
			if a == "-address" && i+1 < len(p.Cmdline) && p.Cmdline[i+1] == sock {
				ours = true
			}
		}
		if !ours {
			continue
		}
		if r := benchkit.RSS(p.PID); r > 0 {
			n++
			total += r
		}
	}
	return n, total
}
