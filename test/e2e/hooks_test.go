package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestLifecycleHooks runs postStart and preStop hooks and the stop signal
// on real containers, as Kubernetes' lifecycle hook tests do.
func TestLifecycleHooks(t *testing.T) {
	// The host directories go after the node has stopped (cleanups run
	// last-registered first): a container restarting during the stop would
	// otherwise create its hostPath directory again.
	var (
		mu       sync.Mutex
		hostDirs []string
	)
	t.Cleanup(func() {
		for _, d := range hostDirs {
			os.RemoveAll(d)
		}
	})
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/hooks:v1", testregistry.Image{
		Env:   []string{"VERSION=v1"},
		Files: map[string]string{"/handler.sh": "#!/bin/sh\nread line\necho \"request $line\" >> /shared/order\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok'\n"},
	})
	image2, _ := reg.Push(t, "e2e/hooks:v2", testregistry.Image{Env: []string{"VERSION=v2"}})
	usr1Image, _ := reg.Push(t, "e2e/hooks:usr1", testregistry.Image{StopSignal: "SIGUSR1"})

	// hostDir is a directory on the node the pods write to, to see what
	// happened after they are gone.
	hostDir := func(t *testing.T) string {
		d, err := os.MkdirTemp("/tmp", "berth-hooks-")
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		hostDirs = append(hostDirs, d)
		mu.Unlock()
		return d
	}
	readFile := func(p string) string {
		b, _ := os.ReadFile(p)
		return string(b)
	}

	t.Run("DocumentationExample", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-doc"
		s.namespace(t, ns)
		dir := hostDir(t)
		// The lifecycle-events example of the Kubernetes documentation: the
		// postStart handler writes a message the main process reads; the
		// preStop handler runs on delete.
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: lifecycle-demo, namespace: %s}
spec:
  volumes: [{name: host, hostPath: {path: %s}}]
  containers:
  - name: lifecycle-demo-container
    image: %s
    command: ["sh", "-c", "until [ -f /usr/share/message ]; do sleep 0.1; done; cat /usr/share/message; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{name: host, mountPath: /host}]
    lifecycle:
      postStart:
        exec:
          command: ["/bin/sh", "-c", "mkdir -p /usr/share && echo Hello from the postStart handler > /usr/share/message"]
      preStop:
        exec:
          command: ["/bin/sh", "-c", "echo preStop ran > /host/prestop"]
`, ns, dir, image))
		s.waitPod(t, ns, "lifecycle-demo", "{.status.phase}", "Running", 60*time.Second)
		eventually(t, 20*time.Second, func() error {
			out, _, _ := s.kubectl("-n", ns, "logs", "lifecycle-demo")
			if !strings.Contains(out, "Hello from the postStart handler") {
				return fmt.Errorf("logs %q lack the postStart message", out)
			}
			if strings.Contains(out, "preStop") {
				return fmt.Errorf("hook output in the container's logs: %q", out)
			}
			return nil
		})
		s.mustKubectl(t, "-n", ns, "delete", "pod", "lifecycle-demo", "--wait=true", "--timeout=60s")
		if got := readFile(filepath.Join(dir, "prestop")); got != "preStop ran\n" {
			t.Errorf("preStop did not run on delete: %q", got)
		}
	})

	t.Run("FailingPostStart", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-fail"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: badhook, namespace: %s}
spec:
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "echo hook-stdout-marker; echo hook-stderr-marker >&2; exit 3"]
`, ns, image))
		eventually(t, 90*time.Second, func() error {
			n, _ := strconv.Atoi(s.podField(t, ns, "badhook", "{.status.containerStatuses[0].restartCount}"))
			if n < 2 {
				return fmt.Errorf("restartCount %d, want it growing to 2", n)
			}
			return nil
		})
		events := s.mustKubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=badhook",
			"-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")
		for _, want := range []string{"FailedPostStartHook: PostStartHook failed", "Killing: FailedPostStartHook", "BackOff: Back-off restarting failed container app"} {
			if !strings.Contains(events, want) {
				t.Errorf("events lack %q:\n%s", want, events)
			}
		}
		out, err := exec.Command(berthBin, "explain", "hooks", "badhook", "-n", ns, "--kubeconfig", s.kubeconfig).CombinedOutput()
		if err != nil {
			t.Fatalf("berth explain hooks: %v\n%s", err, out)
		}
		for _, want := range []string{"PostStart", "3", "hook-stdout-marker", "hook-stderr-marker"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("explain hooks lacks %q:\n%s", want, out)
			}
		}
		if logs, _, _ := s.kubectl("-n", ns, "logs", "badhook"); strings.Contains(logs, "marker") {
			t.Errorf("hook output in the container's logs: %q", logs)
		}
	})

	t.Run("HookCommandMissingFromImage", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-missing"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: nocmd, namespace: %s}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "trap 'exit 1' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      postStart:
        exec: {command: ["/no/such/hook"]}
`, ns, image))
		// restartPolicy Never: the container is killed (it exits 1 on the
		// stop signal) and stays dead.
		s.waitPod(t, ns, "nocmd", "{.status.phase}", "Failed", 60*time.Second)
		events := s.mustKubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=nocmd",
			"-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")
		if !strings.Contains(events, "FailedPostStartHook: PostStartHook failed") || !strings.Contains(events, "Killing: FailedPostStartHook") {
			t.Errorf("events lack the failed hook and the kill:\n%s", events)
		}
		out, err := exec.Command(berthBin, "explain", "hooks", "nocmd", "-n", ns, "--kubeconfig", s.kubeconfig).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "/no/such/hook") {
			t.Errorf("explain hooks should name the missing command: %v\n%s", err, out)
		}
	})

	t.Run("PostStartSleepHoldsRunning", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-sleep"
		s.namespace(t, ns)
		start := time.Now()
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: sleeper, namespace: %s}
spec:
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      postStart:
        sleep: {seconds: 5}
`, ns, image))
		s.waitPod(t, ns, "sleeper", "{.status.phase}", "Running", 60*time.Second)
		if d := time.Since(start); d < 5*time.Second {
			t.Errorf("Running after %s, want not before the 5 s postStart sleep returned", d)
		}
		startedAt, err := time.Parse(time.RFC3339, s.podField(t, ns, "sleeper", "{.status.containerStatuses[0].state.running.startedAt}"))
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(startedAt); d < 4*time.Second {
			t.Errorf("the container started %s before it was reported Running, want ~5 s (the hook runs alongside the entrypoint)", d)
		}
	})

	t.Run("PreStopHTTPBeforeTheStopSignal", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-http"
		s.namespace(t, ns)
		dir := hostDir(t)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: %s}
spec:
  volumes: [{name: shared, hostPath: {path: %s}}]
  containers:
  - name: server
    image: %s
    command: ["nc", "-ll", "-p", "8080", "-e", "/handler.sh"]
    volumeMounts: [{name: shared, mountPath: /shared}]
`, ns, dir, image))
		s.waitPod(t, ns, "server", "{.status.phase}", "Running", 60*time.Second)
		serverIP := s.podField(t, ns, "server", "{.status.podIP}")
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: %s}
spec:
  volumes: [{name: shared, hostPath: {path: %s}}]
  containers:
  - name: client
    image: %s
    command: ["sh", "-c", "trap 'echo TERM >> /shared/order; exit 0' TERM; while true; do sleep 0.1; done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
    ports: [{name: web, containerPort: 9999}]
    lifecycle:
      preStop:
        httpGet: {host: %s, port: 8080, path: "/echo?msg=prestop", httpHeaders: [{name: X-Berth, value: hook}]}
`, ns, dir, image, serverIP))
		s.waitPod(t, ns, "client", "{.status.phase}", "Running", 60*time.Second)
		s.mustKubectl(t, "-n", ns, "delete", "pod", "client", "--wait=true", "--timeout=60s")
		got := readFile(filepath.Join(dir, "order"))
		lines := strings.Split(strings.TrimSpace(got), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "request GET /echo?msg=prestop") || lines[1] != "TERM" {
			t.Errorf("want the preStop request, then the stop signal; got:\n%s", got)
		}
	})

	t.Run("PreStopSleepLongerThanGrace", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-grace"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: slow, namespace: %s}
spec:
  terminationGracePeriodSeconds: 60
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      preStop:
        sleep: {seconds: 50}
`, ns, image))
		s.waitPod(t, ns, "slow", "{.status.phase}", "Running", 60*time.Second)
		start := time.Now()
		s.mustKubectl(t, "-n", ns, "delete", "pod", "slow", "--grace-period=4", "--wait=true", "--timeout=60s")
		// The hook is cut at the 4 s deadline; the signal then ends the
		// process at once.
		if d := time.Since(start); d < 4*time.Second || d > 12*time.Second {
			t.Errorf("deletion took %s, want the 4 s grace period (the 50 s hook cut short)", d)
		}
	})

	t.Run("LivenessFailureRunsPreStop", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-live"
		s.namespace(t, ns)
		dir := hostDir(t)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: sick, namespace: %s}
spec:
  volumes: [{name: host, hostPath: {path: %s}}]
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "trap 'echo TERM >> /host/order; exit 0' TERM; touch /tmp/healthy; sleep 2; rm /tmp/healthy; while true; do sleep 0.2; done"]
    volumeMounts: [{name: host, mountPath: /host}]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 1
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo preStop >> /host/order"]}
`, ns, dir, image))
		eventually(t, 60*time.Second, func() error {
			if n := s.podField(t, ns, "sick", "{.status.containerStatuses[0].restartCount}"); n == "" || n == "0" {
				return fmt.Errorf("restartCount %q", n)
			}
			return nil
		})
		got := readFile(filepath.Join(dir, "order"))
		if !strings.HasPrefix(got, "preStop\nTERM\n") {
			t.Errorf("want preStop, then the stop signal, before the restart; got:\n%s", got)
		}
	})

	t.Run("ImageStopSignal", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-signal"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: usr1, namespace: %s}
spec:
  os: {name: linux}
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "trap 'exit 0' USR1; while true; do sleep 0.2; done"]
    lifecycle:
      stopSignal: SIGUSR1
`, ns, usr1Image))
		// ContainerStopSignals is off in the version berth emulates: the
		// field is dropped on create, as kube-apiserver does.
		if got := s.podField(t, ns, "usr1", "{.spec.containers[0].lifecycle}"); strings.Contains(got, "stopSignal") {
			t.Errorf("lifecycle.stopSignal kept on create: %s", got)
		}
		s.waitPod(t, ns, "usr1", "{.status.phase}", "Running", 60*time.Second)
		start := time.Now()
		s.mustKubectl(t, "-n", ns, "delete", "pod", "usr1", "--wait=true", "--timeout=60s")
		// SIGTERM is ignored (PID 1 without a handler); only the image's
		// STOPSIGNAL ends it before the 30 s deadline.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("deletion took %s: the image's STOPSIGNAL (SIGUSR1) was not sent", d)
		}
	})

	t.Run("SetImageRestartsTheContainer", func(t *testing.T) {
		t.Parallel()
		ns := "hooks-setimage"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: %s}
spec:
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "echo version=$VERSION; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
`, ns, image))
		s.waitPod(t, ns, "app", "{.status.phase}", "Running", 60*time.Second)
		s.mustKubectl(t, "-n", ns, "set", "image", "pod/app", "app="+image2)
		s.waitPod(t, ns, "app", "{.status.containerStatuses[0].restartCount}", "1", 60*time.Second)
		s.waitPod(t, ns, "app", "{.status.containerStatuses[0].image}", image2, 30*time.Second)
		eventually(t, 20*time.Second, func() error {
			out, _, _ := s.kubectl("-n", ns, "logs", "app")
			if !strings.Contains(out, "version=v2") {
				return fmt.Errorf("logs %q, want version=v2", out)
			}
			return nil
		})
		events := s.mustKubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=app", "-o", "jsonpath={.items[*].message}")
		if !strings.Contains(events, "Container app definition changed, will be restarted") {
			t.Errorf("events lack the Killing message of a changed definition:\n%s", events)
		}
	})
}

// TestPreStopAcrossServerRestart: berth stopped while a preStop hook runs;
// after the restart the pod finishes terminating within its deadline and
// the hook is not run a second time.
func TestPreStopAcrossServerRestart(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/hooks:v1", testregistry.Image{})
	dir, err := os.MkdirTemp("/tmp", "berth-hooks-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ns := "hooks-restart"
	s.namespace(t, ns)
	s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: restart, namespace: %s}
spec:
  terminationGracePeriodSeconds: 40
  volumes: [{name: host, hostPath: {path: %s}}]
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "trap 'echo TERM >> /host/runs; exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{name: host, mountPath: /host}]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo preStop >> /host/runs; sleep 8"]}
`, ns, dir, image))
	s.waitPod(t, ns, "restart", "{.status.phase}", "Running", 60*time.Second)
	start := time.Now()
	s.mustKubectl(t, "-n", ns, "delete", "pod", "restart", "--wait=false")
	eventually(t, 20*time.Second, func() error {
		if b, _ := os.ReadFile(filepath.Join(dir, "runs")); !strings.Contains(string(b), "preStop") {
			return fmt.Errorf("preStop not started yet: %q", b)
		}
		return nil
	})
	if _, err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stopping berth: %v", err)
	}
	s.start(t)
	eventually(t, 60*time.Second, func() error {
		out, _, _ := s.kubectl("-n", ns, "get", "pod", "restart", "-o", "name", "--ignore-not-found")
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("pod still there")
		}
		return nil
	})
	if d := time.Since(start); d > 40*time.Second {
		t.Errorf("termination took %s, beyond the 40 s grace period", d)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "runs"))
	if got := string(b); got != "preStop\nTERM\n" {
		t.Errorf("want preStop once, then the stop signal; got:\n%s", got)
	}
}
