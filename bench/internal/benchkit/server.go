package benchkit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ServerStopTimeout is how long a berth server gets to exit after SIGTERM
// before its process group is killed (the contract is 10 s).
const ServerStopTimeout = 15 * time.Second

// Server is a running `berth server` child process.
type Server struct {
	*Child
	Kubeconfig string        // the admin kubeconfig it writes when ready
	Ready      time.Duration // exec to kubeconfig written
}

// StartServer runs bin as `berth server` on dataDir, listening on a free
// loopback port, with the extra flags (e.g. "--disable-agent"), and
// returns once dataDir/kubeconfig is written (the ready signal), or an
// error after readyTimeout. Its log is berth-server.log next to dataDir;
// should the benchmark die, the kernel sends it SIGTERM.
func StartServer(ctx context.Context, bin, dataDir string, readyTimeout time.Duration, flags ...string) (*Server, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{Kubeconfig: filepath.Join(dataDir, "kubeconfig")}
	args := append([]string{"server", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, flags...)
	start := time.Now()
	c, err := StartChild(filepath.Join(filepath.Dir(dataDir), "berth-server.log"), syscall.SIGTERM, bin, args...)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s.Child = c

	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(s.Kubeconfig); err == nil {
			s.Ready = time.Since(start)
			return s, nil
		}
		select {
		case <-c.Exited():
			return nil, fmt.Errorf("berth server exited before it was ready (%v); its log:\n%s", c.WaitErr(), c.LogTail())
		case <-deadline.C:
			_, _ = s.Stop()
			return nil, fmt.Errorf("berth server not ready after %s (no %s); its log:\n%s", readyTimeout, s.Kubeconfig, c.LogTail())
		case <-ctx.Done():
			_, _ = s.Stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM and waits for the exit, killing the process group
// after ServerStopTimeout; see Child.Stop.
func (s *Server) Stop() (time.Duration, error) { return s.Child.Stop(ServerStopTimeout) }
