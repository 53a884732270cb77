package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/agent/hooks"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// Hooks explains, for each container of a pod, its postStart and preStop
// handlers and what their recent runs did (from the node's records: when,
// how long, exit code or HTTP status, error, output tail), and says why a
// hook that never ran did not.
func (e *Explainer) Hooks(ctx context.Context, o Options) error {
	pod, err := e.Client.CoreV1().Pods(o.Namespace).Get(ctx, o.Pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading pod %s/%s: %w", o.Namespace, o.Pod, err)
	}
	w := e.Out
	fprintf(w, "Pod %s/%s (node %s, phase %s)\n", pod.Namespace, pod.Name, orNone(pod.Spec.NodeName), orNone(string(pod.Status.Phase)))
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	fprintf(w, "Grace period: %ds (a preStop hook and the stop signal share it: the hook gets what is left, the signal at least 2s more)\n", grace)
	if pod.DeletionTimestamp != nil {
		g := "?"
		if pod.DeletionGracePeriodSeconds != nil {
			g = fmt.Sprintf("%ds", *pod.DeletionGracePeriodSeconds)
		}
		fprintf(w, "Being deleted: since %s, with a grace period of %s\n", ago(pod.DeletionTimestamp.Time), g)
	}
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	found := false
	for i := range containers {
		c := &containers[i]
		if o.Container != "" && c.Name != o.Container {
			continue
		}
		found = true
		e.hooksContainer(ctx, pod, c, o.DataDir)
	}
	if !found {
		return fmt.Errorf("container %q is not in pod %s/%s", o.Container, pod.Namespace, pod.Name)
	}
	if evs := e.hookEvents(ctx, pod, o.Container); len(evs) > 0 {
		fprintf(w, "\nEvents:\n")
		for _, ev := range evs {
			fprintf(w, "  %s %s %s: %s\n", eventTime(&ev), ev.Type, ev.Reason, ev.Message)
		}
	}
	return nil
}

func (e *Explainer) hooksContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, dataDir string) {
	w := e.Out
	st := containerStatus(pod, c.Name)
	fprintf(w, "\nContainer %q: %s\n", c.Name, stateLine(st))
	var post, pre *corev1.LifecycleHandler
	if c.Lifecycle != nil {
		post, pre = c.Lifecycle.PostStart, c.Lifecycle.PreStop
	}
	podIP := pod.Status.PodIP
	fprintf(w, "  postStart: %s\n", handlerLine(post, c, podIP))
	fprintf(w, "  preStop:   %s\n", handlerLine(pre, c, podIP))
	runs, from, err := e.hookRecords(ctx, pod, c.Name, dataDir)
	switch {
	case err != nil:
		fprintf(w, "  Runs: cannot be read: %v\n", err)
	case len(runs) == 0 && post == nil && pre == nil:
		fprintf(w, "  Runs: none (the container has no lifecycle hooks)\n")
		return
	case len(runs) == 0:
		fprintf(w, "  Runs (%s): none recorded\n", from)
	default:
		fprintf(w, "  Runs (%s, oldest first; the node keeps the last 10):\n", from)
		for i := range runs {
			printRun(e, &runs[i])
		}
	}
	if err != nil {
		return
	}
	if post != nil && !ran(runs, hooks.PostStart) {
		fprintf(w, "  postStart never ran: %s\n", postStartWhy(st))
	}
	if pre != nil && !ran(runs, hooks.PreStop) {
		fprintf(w, "  preStop never ran: %s\n", preStopWhy(pod, st, runs))
	}
}

func printRun(e *Explainer, r *hooks.Record) {
	w := e.Out
	outcome := "succeeded"
	switch {
	case r.Cancelled:
		outcome = "FAILED, cut off: its time ran out first (grace period over, pod deleted, or the node agent stopping)"
	case r.Error != "":
		outcome = "FAILED"
	}
	fprintf(w, "  - %s %s at %s, took %s: %s\n", r.Kind, r.Handler, r.Start.Local().Format("2006-01-02 15:04:05"),
		r.Duration.Round(time.Millisecond), outcome)
	var facts []string
	if r.ExitCode != nil {
		facts = append(facts, fmt.Sprintf("exit code %d", *r.ExitCode))
	}
	if r.HTTPStatus != 0 {
		facts = append(facts, fmt.Sprintf("HTTP status %d (not checked: any answer is success)", r.HTTPStatus))
	}
	if r.ContainerID != "" {
		facts = append(facts, "container "+shortID(r.ContainerID))
	}
	if len(facts) > 0 {
		fprintf(w, "      %s\n", strings.Join(facts, ", "))
	}
	if r.Fallback != "" {
		fprintf(w, "      %s\n", r.Fallback)
	}
	if r.Error != "" {
		fprintf(w, "      error: %s\n", printable(r.Error))
	}
	if r.Output == "" {
		if r.ExitCode != nil || r.HTTPStatus != 0 {
			fprintf(w, "      output: (none)\n")
		}
		return
	}
	what := "output"
	if r.HTTPStatus != 0 {
		what = "response body"
	}
	if r.OutputTruncated {
		what += " (last 4 KiB)"
	}
	fprintf(w, "      %s:\n", what)
	for _, l := range strings.Split(strings.TrimRight(r.Output, "\n"), "\n") {
		fprintf(w, "        | %s\n", printable(l))
	}
}

// hookRecords fetches a container's hook runs: through the API server's
// node proxy first, then from a local data dir.
func (e *Explainer) hookRecords(ctx context.Context, pod *corev1.Pod, container, dataDir string) ([]hooks.Record, string, error) {
	var proxyErr error
	if pod.Spec.NodeName != "" {
		raw, err := e.nodeGet(ctx, pod.Spec.NodeName, "berth/hookrecords", string(pod.UID), container)
		if err == nil {
			var runs []hooks.Record
			if err = json.Unmarshal(raw, &runs); err == nil {
				return runs, "from node " + pod.Spec.NodeName, nil
			}
		}
		proxyErr = fmt.Errorf("node %s did not answer through the API server (%v)", pod.Spec.NodeName, err)
	} else {
		proxyErr = errors.New("the pod is not bound to a node yet")
	}
	if dataDir != "" {
		runs, err := hooks.Load(hooks.DirIn(dataDirAgent(dataDir)), pod.UID, container)
		if err == nil {
			return runs, "from the local data dir " + dataDir, nil
		}
		return nil, "", fmt.Errorf("%v; and the local data dir %s: %v", proxyErr, dataDir, err)
	}
	return nil, "", fmt.Errorf("%v; on the node's machine, --data-dir reads them locally", proxyErr)
}

func (e *Explainer) nodeGet(ctx context.Context, node string, path ...string) ([]byte, error) {
	if e.NodeProxy != nil {
		return e.NodeProxy(ctx, node, path...)
	}
	rc := e.Client.CoreV1().RESTClient()
	if rc == nil || (reflect.ValueOf(rc).Kind() == reflect.Pointer && reflect.ValueOf(rc).IsNil()) {
		return nil, errors.New("no REST client")
	}
	return rc.Get().AbsPath(append([]string{"/api/v1/nodes", node, "proxy"}, path...)...).DoRaw(ctx)
}

// dataDirAgent is the agent's data dir inside berth's data dir.
func dataDirAgent(dataDir string) string { return filepath.Join(dataDir, "agent") }

func ran(runs []hooks.Record, k hooks.Kind) bool {
	for _, r := range runs {
		if r.Kind == k {
			return true
		}
	}
	return false
}

func postStartWhy(st *corev1.ContainerStatus) string {
	switch {
	case st == nil || (st.State.Waiting != nil && st.RestartCount == 0 && st.LastTerminationState.Terminated == nil):
		return "the container has not started yet, or it has and its postStart hook is running now (a container shows Running only once its postStart returns)"
	}
	return "no run recorded: the records may be gone (the node keeps the last 10 runs per container), or the node agent that started the container kept none"
}

func preStopWhy(pod *corev1.Pod, st *corev1.ContainerStatus, runs []hooks.Record) string {
	const when = "the node runs preStop only when it stops a running container (pod deletion, a failed liveness or startup probe, a failed postStart, a changed spec)"
	switch {
	case pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds == 0:
		return "the pod was deleted with a grace period of 0 (--grace-period=0 --force): no preStop runs then"
	case st == nil || (st.State.Waiting != nil && st.RestartCount == 0 && st.LastTerminationState.Terminated == nil):
		return "the container has not run yet; " + when
	case st.State.Terminated != nil:
		t := st.State.Terminated
		return fmt.Sprintf("the container exited by itself (%s, exit code %d): a container that exits on its own gets no preStop; %s", orNone(t.Reason), t.ExitCode, when)
	case st.State.Running != nil && failedPostStart(runs, st.ContainerID, true):
		return "the postStart hook of the running container failed: the node is stopping it, preStop first"
	case failedPostStart(runs, st.ContainerID, false):
		return "a postStart hook failed, so the node killed the container, and that kill runs preStop: no run is recorded, so its record may be gone (the node keeps the last 10 runs)"
	case st.LastTerminationState.Terminated != nil && st.RestartCount > 0:
		t := st.LastTerminationState.Terminated
		return fmt.Sprintf("the container restarted %d time(s), last after exiting with %s, exit code %d: a container that exits on its own (not stopped by the node) gets no preStop", st.RestartCount, orNone(t.Reason), t.ExitCode)
	case pod.DeletionTimestamp != nil:
		return "the pod is being deleted: the preStop hook should start now"
	}
	return "not yet: the container is running and the node has not stopped it; " + when
}

// failedPostStart says whether a recorded postStart failed, of the
// container whose status ID is current ("containerd://<id>") when same is
// true, of an earlier one otherwise.
func failedPostStart(runs []hooks.Record, current string, same bool) bool {
	if i := strings.Index(current, "://"); i >= 0 {
		current = current[i+len("://"):]
	}
	for _, r := range runs {
		if r.Kind == hooks.PostStart && r.Error != "" && (current != "" && r.ContainerID == current) == same {
			return true
		}
	}
	return false
}

func handlerLine(h *corev1.LifecycleHandler, c *corev1.Container, podIP string) string {
	if h == nil {
		return "none"
	}
	s := hooks.Describe(h, c, podIP)
	if h.Exec == nil && h.HTTPGet == nil && h.Sleep == nil {
		s += " — fails every time: Kubernetes runs only exec, httpGet and sleep hooks"
	}
	return s
}

func stateLine(st *corev1.ContainerStatus) string {
	if st == nil {
		return "no status yet"
	}
	s := ""
	switch {
	case st.State.Running != nil:
		s = "running since " + ago(st.State.Running.StartedAt.Time)
	case st.State.Terminated != nil:
		t := st.State.Terminated
		s = fmt.Sprintf("terminated at %s (%s, exit code %d)", ago(t.FinishedAt.Time), orNone(t.Reason), t.ExitCode)
	case st.State.Waiting != nil:
		s = "waiting (" + orNone(st.State.Waiting.Reason) + ")"
		if m := st.State.Waiting.Message; m != "" {
			s += ": " + m
		}
	default:
		s = "state unknown"
	}
	if st.RestartCount > 0 {
		s += fmt.Sprintf(", %d restart(s)", st.RestartCount)
	}
	return s
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format("2006-01-02 15:04:05"), time.Since(t).Truncate(time.Second))
}

func shortID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		id = id[i+3:]
	}
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

// printable keeps a hook's output from driving the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || (r >= 0x20 && r != 0x7f) {
			return r
		}
		return '?'
	}, s)
}

func (e *Explainer) hookEvents(ctx context.Context, pod *corev1.Pod, container string) []corev1.Event {
	sel := fields.Set{"involvedObject.name": pod.Name, "involvedObject.uid": string(pod.UID)}.AsSelector().String()
	list, err := e.Client.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil
	}
	var out []corev1.Event
	for _, ev := range list.Items {
		if ev.InvolvedObject.UID != "" && ev.InvolvedObject.UID != pod.UID {
			continue
		}
		switch ev.Reason {
		case "FailedPostStartHook", "FailedPreStopHook", "LifecycleHTTPFallback", "Killing", "BackOff":
			if ev.Reason == "BackOff" && !strings.Contains(ev.Message, "restarting") {
				continue
			}
			if container != "" && ev.InvolvedObject.FieldPath != "" && !strings.Contains(ev.InvolvedObject.FieldPath, "{"+container+"}") {
				continue
			}
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return eventStamp(&out[i]).Before(eventStamp(&out[j])) })
	if len(out) > 10 {
		out = out[len(out)-10:]
	}
	return out
}

func eventStamp(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

func eventTime(ev *corev1.Event) string {
	t := eventStamp(ev)
	if t.IsZero() {
		return "-"
	}
	s := t.Local().Format("15:04:05")
	if ev.Count > 1 {
		s += fmt.Sprintf(" (x%d)", ev.Count)
	}
	return s
}
