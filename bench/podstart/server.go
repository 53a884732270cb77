package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	readyTimeout = 2 * time.Minute  // containerd start and the pause image import included
	stopTimeout  = 15 * time.Second // the contract is 10 s
)

// server is a running `berth server` child process, with its node agent
// and containerd.
type server struct {
	cmd        *exec.Cmd
	kubeconfig string
	log        string
	ready      time.Duration

	exited  chan struct{} // closed once the process has been reaped
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// startServer runs bin as `berth server` on dataDir with a free port and
// the given pod range, and returns once dataDir/kubeconfig is written (the
// API answers and the node is Ready).
func startServer(ctx context.Context, bin, dataDir, cidr string) (*server, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	s := &server{
		kubeconfig: filepath.Join(dataDir, "kubeconfig"),
		log:        filepath.Join(filepath.Dir(dataDir), "berth-server.log"),
		exited:     make(chan struct{}),
	}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	s.cmd = exec.Command(bin, "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--cluster-cidr", cidr)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = childAttrs(syscall.SIGTERM)
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()

	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(s.kubeconfig); err == nil {
			s.ready = time.Since(start)
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("berth server exited before it was ready (%v); its log:\n%s", s.waitErr, s.logTail())
		case <-deadline.C:
			s.stop()
			return nil, fmt.Errorf("berth server not ready after %s (no %s); its log:\n%s", readyTimeout, s.kubeconfig, s.logTail())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits for the exit, killing the process group
// after stopTimeout. Safe to call more than once.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			if s.waitErr != nil {
				s.stopErr = fmt.Errorf("berth server exited with %v; its log:\n%s", s.waitErr, s.logTail())
			}
		case <-time.After(stopTimeout):
			// Our own child's process group (Setpgid): nothing else is in it.
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
			s.stopErr = fmt.Errorf("berth server still running %s after SIGTERM; killed", stopTimeout)
		}
	})
	return s.stopErr
}

// logTail is the end of the server's log, for error messages.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimRight(b, "\n"))
}

// rss reads VmRSS of pid in bytes; -1 when /proc cannot tell.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n * 1024
				}
			}
		}
	}
	return -1
}

// proc is one process from /proc.
type proc struct {
	pid, ppid int
	comm      string
	cmdline   []string
}

// processes lists /proc (processes that vanish meanwhile are skipped).
func processes() []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		rest := strings.Fields(string(stat[closing+1:]))
		if len(rest) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(rest[1])
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, proc{pid: pid, ppid: ppid, comm: string(stat[open+1 : closing]),
			cmdline: strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")})
	}
	return out
}

// containerdOf finds the containerd child of the berth server.
func containerdOf(serverPid int) int {
	for _, p := range processes() {
		if p.ppid == serverPid && p.comm == "containerd" {
			return p.pid
		}
	}
	return 0
}

// shims are the containerd-shim processes serving the containerd whose
// socket is sock (one per sandbox with runc v2), and their summed VmRSS.
func shims(sock string) (n int, total int64) {
	for _, p := range processes() {
		if !strings.HasPrefix(p.comm, "containerd-shim") {
			continue
		}
		ours := false
		for i, a := range p.cmdline {
			if a == "-address" && i+1 < len(p.cmdline) && p.cmdline[i+1] == sock {
				ours = true
			}
		}
		if !ours {
			continue
		}
		if r := rss(p.pid); r > 0 {
			n++
			total += r
		}
	}
	return n, total
}

// alive tells whether pid still runs the command comm.
func alive(pid int, comm string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(b)) == comm
}
