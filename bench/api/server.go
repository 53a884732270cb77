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
	readyTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second // the contract is 10 s
)

// server is a running `berth server` child process.
type server struct {
	cmd        *exec.Cmd
	kubeconfig string
	log        string
	ready      time.Duration

	exited  chan struct{} // closed once the process has been reaped
	waitErr error

	stopOnce sync.Once
	stopped  time.Duration
	stopErr  error
}

// startServer runs bin as `berth server` on dataDir, with a free port and no
// agent, and returns once dataDir/kubeconfig is written (the ready signal).
func startServer(ctx context.Context, bin, dataDir string) (*server, error) {
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
	s.cmd = exec.Command(bin, "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--disable-agent")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = childAttrs()
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

// stop sends SIGTERM and waits for the exit, killing the process group
// after stopTimeout. It returns how long the stop took and, if the server
// did not exit cleanly, why. Safe to call more than once.
func (s *server) stop() (time.Duration, error) {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			s.stopErr = fmt.Errorf("had already exited: %v", s.waitErr)
			return
		default:
		}
		start := time.Now()
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			s.stopErr = err
		}
		select {
		case <-s.exited:
			s.stopped = time.Since(start)
			if s.waitErr != nil {
				s.stopErr = fmt.Errorf("exited with %v", s.waitErr)
			}
		case <-time.After(stopTimeout):
			// Our own child's process group (Setpgid): nothing else is in it.
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
			s.stopped = time.Since(start)
			s.stopErr = fmt.Errorf("still running %s after SIGTERM; killed", stopTimeout)
		}
	})
	return s.stopped, s.stopErr
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

// memory reads the peak (VmHWM) and current (VmRSS) resident set of pid in
// bytes; -1 when /proc cannot tell.
func memory(pid int) (peak, current int64) {
	peak, current = -1, -1
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmHWM":
			peak = n * 1024
		case "VmRSS":
			current = n * 1024
		}
	}
	return
}
