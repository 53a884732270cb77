package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// logOptions is a parsed PodLogOptions query.
type logOptions struct {
	follow     bool
	previous   bool
	timestamps bool
	tail       int64 // lines from the end; -1: all
	limit      int64 // bytes; -1: no limit
	since      time.Time
	// stream is "" for both streams, or "stdout" or "stderr".
	stream string
}

// parseLogOptions reads the kubelet's containerLogs query. Values are
// checked as Kubernetes' ValidatePodLogOptions does.
func parseLogOptions(q url.Values, now time.Time) (logOptions, error) {
	o := logOptions{tail: -1, limit: -1,
		follow: queryBool(q, "follow"), previous: queryBool(q, "previous"), timestamps: queryBool(q, "timestamps")}
	// "tail" is the kubelet's older spelling of tailLines; "all" means no tail.
	if t := q.Get("tail"); t != "" && q.Get("tailLines") == "" && t != "all" {
		q = cloneValues(q)
		q.Set("tailLines", t)
	}
	tail, err := queryInt(q, "tailLines")
	if err != nil {
		return o, err
	}
	if tail != nil {
		if *tail < 0 {
			return o, fmt.Errorf("tailLines: Invalid value: %d: must be greater than or equal to 0", *tail)
		}
		o.tail = *tail
	}
	limit, err := queryInt(q, "limitBytes")
	if err != nil {
		return o, err
	}
	if limit != nil {
		if *limit < 1 {
			return o, fmt.Errorf("limitBytes: Invalid value: %d: must be greater than 0", *limit)
		}
		o.limit = *limit
	}
	sinceSeconds, err := queryInt(q, "sinceSeconds")
	if err != nil {
		return o, err
	}
	sinceTime := q.Get("sinceTime")
	if sinceSeconds != nil && sinceTime != "" {
		return o, errors.New("at most one of `sinceTime` or `sinceSeconds` may be specified")
	}
	if sinceSeconds != nil {
		if *sinceSeconds < 1 {
			return o, fmt.Errorf("sinceSeconds: Invalid value: %d: must be greater than 0", *sinceSeconds)
		}
		o.since = now.Add(-time.Duration(*sinceSeconds) * time.Second)
	}
	if sinceTime != "" {
		t, err := time.Parse(time.RFC3339, sinceTime)
		if err != nil {
			return o, fmt.Errorf("sinceTime: Invalid value: %q: must be an RFC 3339 time", sinceTime)
		}
		o.since = t
	}
	switch st := q.Get("stream"); st {
	case "", "All":
	case "Stdout":
		o.stream = "stdout"
	case "Stderr":
		o.stream = "stderr"
	default:
		return o, fmt.Errorf("stream: Unsupported value: %q: supported values: \"All\", \"Stderr\", \"Stdout\"", st)
	}
	return o, nil
}

// queryBool reads a boolean the way Kubernetes converts query parameters:
// present and not "false" or "0" is true.
func queryBool(q url.Values, key string) bool {
	v, ok := q[key]
	if !ok || len(v) == 0 {
		return false
	}
	return !strings.EqualFold(v[0], "false") && v[0] != "0"
}

func queryInt(q url.Values, key string) (*int64, error) {
	v := q.Get(key)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid value %q: %v", key, v, err)
	}
	return &n, nil
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// serveLogs streams one container's log, as the kubelet's
// /containerLogs endpoint does.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	namespace, podName, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := parseLogOptions(r.URL.Query(), s.now())
	if err != nil {
		httpError(w, http.StatusUnprocessableEntity, fmt.Errorf("invalid log options for container %q in pod %q: %w", container, podName, err))
		return
	}
	pod, code, err := s.getPod(namespace, podName, "")
	if err != nil {
		httpError(w, code, err)
		return
	}
	if containerSpec(pod, container) == nil {
		httpError(w, http.StatusNotFound, fmt.Errorf("container %q not found in pod %q", container, podName))
		return
	}
	id, err := s.logContainer(ctx, pod, container, opts.previous)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	st, err := s.rt.ContainerStatus(ctx, id)
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("reading the status of container %q in pod %q: %w", container, podName, err))
		return
	}
	if st.GetLogPath() == "" {
		httpError(w, http.StatusBadRequest, fmt.Errorf("container %q in pod %q has no log file", container, podName))
		return
	}
	lf, err := openLog(st.GetLogPath(), opts.tail)
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("reading the log of container %q in pod %q: %w", container, podName, err))
		return
	}
	defer lf.close()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	// Send the headers now: a client following a quiet container sees
	// the stream open before the first line.
	flush := func() {}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
		flush = f.Flush
	}
	running := func(ctx context.Context) bool {
		st, err := s.rt.ContainerStatus(ctx, id)
		if errors.Is(err, cri.ErrNotFound) {
			return false
		}
		// On other errors keep following: the runtime may be restarting.
		return err != nil || st.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING
	}
	f := &follower{poll: s.pollInterval, stateEvery: s.stateInterval, running: running}
	if err := lf.copyTo(ctx, w, flush, opts, f); err != nil && ctx.Err() == nil {
		s.log.Debug("streaming a container log", "pod", namespace+"/"+podName, "container", container, "err", err)
	}
}

// getPod returns the pod, or the HTTP code and error the kubelet answers
// with when the pod is not on this node.
func (s *Server) getPod(namespace, name, uid string) (*corev1.Pod, int, error) {
	pod, err := s.pods.Get(namespace, name)
	if apierrors.IsNotFound(err) || (err == nil && pod == nil) {
		return nil, http.StatusNotFound, fmt.Errorf("pod %q does not exist", name)
	}
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("getting pod %q: %w", name, err)
	}
	if uid != "" && string(pod.UID) != uid {
		return nil, http.StatusNotFound, fmt.Errorf("pod %q not found (uid %s)", name, uid)
	}
	return pod, 0, nil
}

// logContainer picks the container instance whose log to read, with the
// kubelet's rules and words. Without previous: the newest instance that
// ran (running or exited), else an error saying why the container has not
// started. With previous: the instance before the current one, which is
// the newest one if it exited and is about to be restarted (back-off).
func (s *Server) logContainer(ctx context.Context, pod *corev1.Pod, container string, previous bool) (string, error) {
	insts, err := s.instances(ctx, pod, container)
	if err != nil {
		return "", err
	}
	if !previous {
		// A created but not yet started instance shows the one before it,
		// as the kubelet shows lastState's logs while a container waits.
		for _, c := range insts {
			if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING || c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
				return c.Id, nil
			}
		}
		return "", notStarted(pod, container)
	}
	if len(insts) > 0 && insts[0].State == runtimeapi.ContainerState_CONTAINER_EXITED {
		// The newest instance has exited. If it is to be restarted, it is
		// the container's last state (the pod shows CrashLoopBackOff or is
		// about to start it again). If not, it is the current, terminated
		// state, and previous is the one before it.
		exitCode := int32(0)
		if st, err := s.rt.ContainerStatus(ctx, insts[0].Id); err == nil {
			exitCode = st.GetExitCode()
		}
		if restarts(pod, container, exitCode) {
			return insts[0].Id, nil
		}
	}
	for _, c := range insts[min(1, len(insts)):] {
		if c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return c.Id, nil
		}
	}
	return "", fmt.Errorf("previous terminated container %q in pod %q not found", container, pod.Name)
}

// notStarted is the kubelet's error for a container with nothing to show,
// with the waiting reason from the pod's status.
func notStarted(pod *corev1.Pod, container string) error {
	cs := containerStatus(pod, container)
	reason := "ContainerCreating"
	if cs != nil {
		switch {
		case cs.State.Terminated != nil:
			return fmt.Errorf("container %q in pod %q is terminated", container, pod.Name)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			reason = cs.State.Waiting.Reason
		}
	}
	switch reason {
	case "ErrImagePull":
		return fmt.Errorf("container %q in pod %q is waiting to start: image can't be pulled", container, pod.Name)
	case "ImagePullBackOff":
		return fmt.Errorf("container %q in pod %q is waiting to start: trying and failing to pull image", container, pod.Name)
	}
	return fmt.Errorf("container %q in pod %q is waiting to start: %s", container, pod.Name, reason)
}
