package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/transport/websocket"
)

// TestEphemeralAndTermination covers berth's own gaps in Kubernetes' node
// e2e tests (issue 13) with the real kubectl: ephemeral containers
// (kubectl debug, with and without a target), the status of a pod stopped
// for deletion (readiness False during the grace period, no liveness kill,
// the terminal status written before the pod leaves the API), pods/log over
// WebSocket, the kubelet's /pods through nodes/NAME/proxy, and a last log
// line without a newline.
func TestEphemeralAndTermination(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/busybox:ephemeral", testregistry.Image{})
	ns := "eph"
	s.namespace(t, ns)
	s.waitDefaultSA(t, ns)
	s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: target, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: %[2]s, command: ["sleep", "1234567"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: target2, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: %[2]s, command: ["sleep", "1234567"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: lastline, namespace: %[1]s}
spec:
  restartPolicy: Never
  containers: [{name: c, image: %[2]s, command: ["sh", "-c", "echo first; printf no-newline-at-the-end"]}]
`, ns, image))

	t.Run("DebugWithTarget", func(t *testing.T) {
		t.Parallel()
		s.waitPod(t, ns, "target", "{.status.phase}", "Running", 40*time.Second)
		// kubectl debug -it at a terminal (script(1) gives kubectl one):
		// the shell shares the target's process namespace, so ps shows
		// the target's sleep.
		out := s.debugInTerminal(t, []string{"-n", ns, "debug", "-it", "target", "--image=" + image,
			"--target=app", "--container=dbg", "--", "sh"}, "ps", "sleep 1234567")
		if !strings.Contains(out, "Session ended") {
			t.Errorf("kubectl debug -it did not end its session:\n%s", out)
		}
		s.waitPod(t, ns, "target", `{.status.ephemeralContainerStatuses[?(@.name=="dbg")].state.terminated.exitCode}`, "0", 20*time.Second)
		// The pod runs on untouched: same generation rules as Kubernetes
		// (the ephemeral container is a spec change), nothing restarted.
		if got := s.podField(t, ns, "target", "{.status.phase} {.metadata.generation} {.status.containerStatuses[0].restartCount}"); got != "Running 2 0" {
			t.Errorf("after kubectl debug: phase, generation, restartCount = %q, want \"Running 2 0\"", got)
		}
		// Ephemeral containers may only be added: not removed, not changed,
		// and have no ports (the API's validation).
		raw := fmt.Sprintf("/api/v1/namespaces/%s/pods/target/ephemeralcontainers", ns)
		var pod corev1.Pod
		if err := json.Unmarshal([]byte(s.mustKubectl(t, "get", "--raw", raw)), &pod); err != nil {
			t.Fatal(err)
		}
		if len(pod.Spec.EphemeralContainers) != 1 {
			t.Fatalf("GET ephemeralcontainers: %d ephemeral containers, want 1", len(pod.Spec.EphemeralContainers))
		}
		for name, mutate := range map[string]func(p *corev1.Pod){
			"removed": func(p *corev1.Pod) { p.Spec.EphemeralContainers = nil },
			"ports": func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
					EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "x", Image: image,
						Ports: []corev1.ContainerPort{{ContainerPort: 80}}}})
			},
		} {
			p := pod.DeepCopy()
			mutate(p)
			b, _ := json.Marshal(p)
			_, stderr, err := s.kubectlIn(string(b), "replace", "--raw", raw, "-f", "-")
			want := map[string]string{"removed": `existing ephemeral containers "dbg" may not be removed`,
				"ports": "spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container"}[name]
			if err == nil || !strings.Contains(stderr, want) {
				t.Errorf("%s: replace ephemeralcontainers: err %v, stderr %q; want an error with %q", name, err, stderr, want)
			}
		}
	})

	t.Run("DebugCommandAndLogs", func(t *testing.T) {
		t.Parallel()
		s.waitPod(t, ns, "target2", "{.status.phase}", "Running", 40*time.Second)
		s.mustKubectl(t, "-n", ns, "debug", "target2", "--image="+image, "--container=dbg2", "--",
			"sh", "-c", "echo from-debug; printf tail-without-newline")
		s.waitPod(t, ns, "target2", `{.status.ephemeralContainerStatuses[?(@.name=="dbg2")].state.terminated.reason}`, "Completed", 30*time.Second)
		if out := s.mustKubectl(t, "-n", ns, "logs", "target2", "-c", "dbg2"); out != "from-debug\ntail-without-newline" {
			t.Errorf("kubectl logs of the ephemeral container = %q", out)
		}
		// A regular container's last line without a newline is in its log,
		// without a newline as on Kubernetes (containerd writes it as a
		// partial line, and the kubelet adds none).
		s.waitPod(t, ns, "lastline", "{.status.phase}", "Succeeded", 40*time.Second)
		if out := s.mustKubectl(t, "-n", ns, "logs", "lastline"); out != "first\nno-newline-at-the-end" {
			t.Errorf("kubectl logs of a container whose last line has no newline = %q", out)
		}
	})

	t.Run("LogWebSocketAndNodeProxyPods", func(t *testing.T) {
		t.Parallel()
		s.waitPod(t, ns, "lastline", "{.status.phase}", "Succeeded", 40*time.Second)
		cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		for _, proto := range []string{"binary.k8s.io", "base64.binary.k8s.io"} {
			rt, holder, err := websocket.RoundTripperFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, cfg.Host+"/api/v1/namespaces/"+ns+"/pods/lastline/log?container=c", nil)
			conn, err := websocket.Negotiate(rt, holder, req, proto)
			if err != nil {
				t.Fatalf("pods/log over WebSocket (%s): %v", proto, err)
			}
			var got bytes.Buffer
			for {
				_, msg, err := conn.ReadMessage()
				if err != nil {
					break
				}
				got.Write(msg)
			}
			conn.Close()
			want := "first\nno-newline-at-the-end"
			if proto == "base64.binary.k8s.io" {
				want = "Zmlyc3QKbm8tbmV3bGluZS1hdC10aGUtZW5k"
			}
			if got.String() != want {
				t.Errorf("pods/log over WebSocket (%s) = %q, want %q", proto, got.String(), want)
			}
		}
		// The kubelet's /pods, by node name and by name:port.
		node := strings.TrimSpace(s.mustKubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
		port := strings.TrimSpace(s.mustKubectl(t, "get", "node", node, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}"))
		for _, name := range []string{node, node + ":" + port} {
			var list corev1.PodList
			if err := json.Unmarshal([]byte(s.mustKubectl(t, "get", "--raw", "/api/v1/nodes/"+name+"/proxy/pods")), &list); err != nil {
				t.Fatalf("nodes/%s/proxy/pods: %v", name, err)
			}
			found := false
			for _, p := range list.Items {
				found = found || (p.Namespace == ns && p.Name == "lastline")
			}
			if list.Kind != "PodList" || !found {
				t.Errorf("nodes/%s/proxy/pods: kind %q, %d pods, lastline found: %v", name, list.Kind, len(list.Items), found)
			}
		}
	})

	t.Run("GracefulTermination", func(t *testing.T) {
		t.Parallel()
		tns := "ephterm"
		s.namespace(t, tns)
		s.waitDefaultSA(t, tns)
		// On SIGTERM the container stops being ready and live, and takes
		// 6 s to exit 0. Readiness must turn False during that time,
		// liveness must not kill it, and the last status before the pod
		// leaves the API is terminal.
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: term, namespace: %s}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: %s
    command: ["sh", "-c", "trap 'rm -f /tmp/ready /tmp/live; sleep 6; exit 0' TERM; touch /tmp/ready /tmp/live; while true; do sleep 1; done"]
    readinessProbe: {exec: {command: ["cat", "/tmp/ready"]}, periodSeconds: 1, failureThreshold: 1}
    livenessProbe: {exec: {command: ["cat", "/tmp/live"]}, periodSeconds: 1, failureThreshold: 1}
`, tns, image))
		s.waitPod(t, tns, "term", `{.status.conditions[?(@.type=="Ready")].status}`, "True", 40*time.Second)
		watch := s.kubectlBackground(t, 50*time.Second, "-n", tns, "get", "pod", "term", "--watch", "--output-watch-events", "-o", "json")
		time.Sleep(time.Second) // let the watch start (it prints the current pod first)
		deleted := time.Now()
		s.mustKubectl(t, "-n", tns, "delete", "pod", "term", "--wait=false")
		eventually(t, 10*time.Second, func() error {
			out, _, err := s.kubectl("-n", tns, "get", "pod", "term", "-o", `jsonpath={.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}`)
			if err != nil {
				return err
			}
			if f := strings.Fields(out); len(f) != 2 || f[1] != "False" {
				return fmt.Errorf("terminating pod: deletionTimestamp, Ready = %q, want Ready False while it stops", out)
			}
			return nil
		})
		if time.Since(deleted) > 5*time.Second {
			t.Errorf("Ready turned False %v after the deletion, want within the container's 6 s stop", time.Since(deleted))
		}
		eventually(t, 40*time.Second, func() error {
			if out, _, err := s.kubectl("-n", tns, "get", "pods", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
				return fmt.Errorf("pods left: %q %v", out, err)
			}
			return nil
		})
		// kubectl get --watch goes on after the deletion: give it a moment
		// to print the DELETED event, then stop it.
		eventually(t, 10*time.Second, func() error {
			if !strings.Contains(watch.stdout.String(), `"type":"DELETED"`) {
				return fmt.Errorf("no DELETED event in the watch yet")
			}
			return nil
		})
		watch.cancel()
		watch.wait(10 * time.Second)
		// The watch ends with the DELETED event; the object before it is
		// the last status the agent wrote.
		var last *corev1.Pod
		var sawDeleted bool
		dec := json.NewDecoder(bufio.NewReader(strings.NewReader(watch.stdout.String())))
		for dec.More() {
			var ev struct {
				Type   string     `json:"type"`
				Object corev1.Pod `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("decoding the watch: %v\n%s", err, watch.stdout.String())
			}
			if ev.Type == "DELETED" {
				sawDeleted = true
			}
			p := ev.Object
			last = &p
		}
		if !sawDeleted || last == nil {
			t.Fatalf("the watch saw no DELETED event:\n%s\nstderr: %s", watch.stdout.String(), watch.stderr.String())
		}
		cs := last.Status.ContainerStatuses
		if last.Status.Phase != corev1.PodSucceeded || len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 {
			b, _ := json.MarshalIndent(last.Status, "", "  ")
			t.Errorf("last status before removal: want phase Succeeded and the container terminated with 0 (no liveness kill), got\n%s", b)
		}
		if out := s.mustKubectl(t, "-n", tns, "get", "events", "--field-selector", "involvedObject.name=term", "-o", "jsonpath={.items[*].message}"); strings.Contains(out, "liveness probe") {
			t.Errorf("liveness probe events during termination: %s", out)
		}
	})
}

// debugInTerminal runs kubectl (an interactive kubectl debug -it) in a
// terminal made by script(1): once the shell prompts it types command,
// waits for want in the output, then types exit and waits for kubectl to
// end. It returns the terminal's output.
func (s *server) debugInTerminal(t *testing.T, args []string, command, want string) string {
	t.Helper()
	quoted := make([]string, 0, len(args)+1)
	for _, a := range append([]string{"kubectl"}, s.kubectlArgs(args...)...) {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qec", strings.Join(quoted, " "), "/dev/null")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("script(1) for kubectl debug -it: %v", err)
	}
	waitFor := func(text string) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			if !strings.Contains(out.String(), text) {
				return fmt.Errorf("kubectl debug -it: no %q in the terminal yet:\n%s", text, out.String())
			}
			return nil
		})
	}
	waitFor("# ")
	_, _ = io.WriteString(stdin, command+"\n")
	waitFor(want)
	_, _ = io.WriteString(stdin, "exit\n")
	if err := cmd.Wait(); err != nil {
		t.Errorf("kubectl debug -it: %v\n%s", err, out.String())
	}
	return out.String()
}
