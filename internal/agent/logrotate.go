package agent

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Container log rotation, as the kubelet's container log manager
// (pkg/kubelet/logs) does it with its defaults: a running container's log
// over --container-log-max-size (10Mi) is renamed to <log>.<timestamp>
// and the runtime told to reopen it (CRI ReopenContainerLog); rotated
// logs but the newest are gzipped; at most --container-log-max-files (5)
// files are kept, the current one included.
const (
	logMaxSize         = 10 << 20
	logMaxFiles        = 5
	logMonitorInterval = 10 * time.Second
	logTimestampFormat = "20060102-150405"
	logCompressSuffix  = ".gz"
	logTmpSuffix       = ".tmp"
)

// logRotator rotates the logs of running containers.
type logRotator struct {
	rt       logRuntime
	maxSize  int64
	maxFiles int
	now      func() time.Time
	warn     func(msg string, args ...any)
}

// logRuntime is the part of the CRI the rotator uses.
type logRuntime interface {
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	ContainerStatus(ctx context.Context, containerID string) (*runtimeapi.ContainerStatus, error)
	ReopenContainerLog(ctx context.Context, containerID string) error
}

// Run rotates every interval until ctx ends.
func (r *logRotator) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.rotateAll(ctx)
		}
	}
}

func (r *logRotator) rotateAll(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, criTimeout)
	cs, err := r.rt.ListContainers(lctx, &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}})
	cancel()
	if err != nil {
		r.warn("listing containers for log rotation", "err", err)
		return
	}
	for _, c := range cs {
		if ctx.Err() != nil {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, criTimeout)
		st, err := r.rt.ContainerStatus(sctx, c.Id)
		cancel()
		if err != nil || st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.LogPath == "" {
			continue
		}
		if err := r.rotateOne(ctx, c.Id, st.LogPath); err != nil {
			r.warn("rotating a container log", "container", c.Id, "log", st.LogPath, "err", err)
		}
	}
}

// rotateOne is the kubelet's per-container step.
func (r *logRotator) rotateOne(ctx context.Context, id, log string) error {
	info, err := os.Stat(log)
	if err != nil {
		if !os.IsNotExist(err) {
			return err
		}
		// A failed rotation left no log: have the runtime create it.
		rctx, cancel := context.WithTimeout(ctx, criTimeout)
		defer cancel()
		return r.rt.ReopenContainerLog(rctx, id)
	}
	if info.Size() < r.maxSize {
		return nil
	}
	logs, err := filepath.Glob(globEscape(log) + ".*")
	if err != nil {
		return err
	}
	// Leftovers of a failed rotation: temporary files, and plain files
	// whose compressed copy exists.
	var inUse []string
	for _, l := range logs {
		if strings.HasSuffix(l, logTmpSuffix) || (!strings.HasSuffix(l, logCompressSuffix) && contains(logs, l+logCompressSuffix)) {
			if err := os.Remove(l); err != nil && !os.IsNotExist(err) {
				return err
			}
			continue
		}
		inUse = append(inUse, l)
	}
	// Keep maxFiles-2 rotated files: with the one about to be rotated and
	// the new current one, that makes maxFiles.
	sort.Strings(inUse)
	keep := max(r.maxFiles-2, 0)
	for len(inUse) > keep {
		if err := os.Remove(inUse[0]); err != nil && !os.IsNotExist(err) {
			return err
		}
		inUse = inUse[1:]
	}
	for _, l := range inUse {
		if !strings.HasSuffix(l, logCompressSuffix) {
			if err := compressLog(l); err != nil {
				return err
			}
		}
	}
	rotated := log + "." + r.now().Format(logTimestampFormat)
	if err := os.Rename(log, rotated); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, criTimeout)
	defer cancel()
	if err := r.rt.ReopenContainerLog(rctx, id); err != nil {
		// Put it back to try again next round.
		_ = os.Rename(rotated, log)
		return fmt.Errorf("reopening the log of container %s: %w", id, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// globEscape quotes the glob metacharacters of a path.
func globEscape(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(p)
}

// compressLog gzips log to log.gz and removes log.
func compressLog(log string) error {
	in, err := os.Open(log)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := log + logTmpSuffix
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer out.Close()
	w := gzip.NewWriter(out)
	if _, err := io.Copy(w, in); err != nil {
		return fmt.Errorf("compressing %s: %w", log, err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, log+logCompressSuffix); err != nil {
		return err
	}
	return os.Remove(log)
}

// removeContainerLogs removes a removed container's log, its rotated
// files and its termination-message file, as the kubelet's container
// garbage collection does (containerd leaves them behind).
func removeContainerLogs(st *runtimeapi.ContainerStatus) {
	if st == nil {
		return
	}
	if log := st.GetLogPath(); log != "" {
		_ = os.Remove(log)
		if rotated, err := filepath.Glob(globEscape(log) + ".*"); err == nil {
			for _, l := range rotated {
				_ = os.Remove(l)
			}
		}
	}
	if p := st.GetAnnotations()[annoTerminationHostPath]; p != "" {
		_ = os.Remove(p)
	}
}

// removeContainer removes a dead container and the files the agent keeps
// for it on the host.
func (a *Agent) removeContainer(ctx context.Context, id string) error {
	cctx, cancel := context.WithTimeout(ctx, criTimeout)
	defer cancel()
	st, _ := a.cfg.Runtime.ContainerStatus(cctx, id)
	if err := a.cfg.Runtime.RemoveContainer(cctx, id); err != nil {
		return err
	}
	removeContainerLogs(st)
	return nil
}
