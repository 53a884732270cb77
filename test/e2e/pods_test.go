package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestPods runs real pods on containerd through berth's node agent.
func TestPods(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/busybox:v1", testregistry.Image{
		Env:   []string{"IMG_GREETING=from-image"},
		Files: map[string]string{"/www/index.html": "hello from berth\n"},
	})
	s.mustKubectl(t, "get", "nodes")

	t.Run("RunningLogsExecHostname", func(t *testing.T) {
		t.Parallel()
		ns := "run"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: %s}
spec:
  containers:
  - name: web
    image: %s
    command: ["sh", "-c", "echo started; exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080}]
`, ns, image))
		s.waitPod(t, ns, "web", "{.status.phase}", "Running", 60*time.Second)
		eventually(t, 20*time.Second, func() error {
			out, stderr, err := s.kubectl("-n", ns, "logs", "web")
			if err != nil || !strings.Contains(out, "started") {
				return fmt.Errorf("logs: %q %s %v", out, stderr, err)
			}
			return nil
		})
		if out := s.mustKubectl(t, "-n", ns, "exec", "web", "--", "hostname"); strings.TrimSpace(out) != "web" {
			t.Errorf("exec hostname = %q, want web", out)
		}
		out, _ := s.mustKubectlIn(t, "piped-input\n", "-n", ns, "exec", "-i", "web", "--", "cat")
		if strings.TrimSpace(out) != "piped-input" {
			t.Errorf("exec -i cat = %q, want piped-input", out)
		}
		if out := s.mustKubectl(t, "-n", ns, "exec", "web", "--", "sh", "-c", "echo $IMG_GREETING"); strings.TrimSpace(out) != "from-image" {
			t.Errorf("image ENV IMG_GREETING = %q", out)
		}
		// port-forward to the container's HTTP port.
		pf := s.kubectlBackground(t, 30*time.Second, "-n", ns, "port-forward", "pod/web", "0:8080")
		var local string
		eventually(t, 20*time.Second, func() error {
			for _, line := range strings.Split(pf.stdout.String(), "\n") {
				if strings.HasPrefix(line, "Forwarding from 127.0.0.1:") {
					local = strings.Fields(strings.TrimPrefix(line, "Forwarding from "))[0]
					return nil
				}
			}
			return fmt.Errorf("port-forward not ready: %q", pf.stdout.String())
		})
		resp, err := http.Get("http://" + local + "/index.html")
		if err != nil {
			t.Fatalf("GET through port-forward: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "hello from berth") {
			t.Errorf("port-forward body = %q", body)
		}
	})

	t.Run("NeverExit0Completed", func(t *testing.T) {
		t.Parallel()
		ns := "done"
		s.namespace(t, ns)
		s.mustKubectl(t, "-n", ns, "run", "once", "--image="+image, "--restart=Never", "--", "sh", "-c", "echo bye")
		s.waitPod(t, ns, "once", "{.status.phase}", "Succeeded", 60*time.Second)
		out := s.mustKubectl(t, "-n", ns, "get", "pod", "once")
		if r := row(out, "once"); len(r) < 3 || r[2] != "Completed" {
			t.Errorf("STATUS of a finished pod: %q", out)
		}
		if got := s.podField(t, ns, "once", "{.status.containerStatuses[0].state.terminated.reason}"); got != "Completed" {
			t.Errorf("terminated.reason = %q", got)
		}
	})

	t.Run("CrashLoopBackOff", func(t *testing.T) {
		t.Parallel()
		ns := "crash"
		s.namespace(t, ns)
		s.mustKubectl(t, "-n", ns, "run", "crash", "--image="+image, "--", "sh", "-c", "exit 1")
		var msg string
		eventually(t, 60*time.Second, func() error {
			// One read, so that reason, message and count belong together.
			f := strings.SplitN(s.podField(t, ns, "crash", "{.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].restartCount}|{.status.containerStatuses[0].state.waiting.message}"), "|", 3)
			if len(f) != 3 {
				return fmt.Errorf("no container status yet")
			}
			n, _ := strconv.Atoi(f[1])
			if f[0] != "CrashLoopBackOff" || n < 2 {
				return fmt.Errorf("waiting reason %q restarts %d", f[0], n)
			}
			msg = f[2]
			return nil
		})
		if !strings.HasPrefix(msg, "back-off ") || !strings.Contains(msg, "restarting failed container=crash pod=crash_crash(") {
			t.Errorf("CrashLoopBackOff message = %q", msg)
		}
		if code := s.podField(t, ns, "crash", "{.status.containerStatuses[0].lastState.terminated.exitCode}"); code != "1" {
			t.Errorf("lastState exit code = %q", code)
		}
		if out := s.mustKubectl(t, "-n", ns, "get", "events", "--field-selector", "reason=BackOff"); !strings.Contains(out, "Back-off restarting failed container crash in pod crash_crash") {
			t.Errorf("BackOff event missing: %s", out)
		}
		// The back-off grows: 10 s after the second exit, 20 s after the third.
		first := s.podField(t, ns, "crash", "{.status.containerStatuses[0].state.waiting.message}")
		eventually(t, 60*time.Second, func() error {
			m := s.podField(t, ns, "crash", "{.status.containerStatuses[0].state.waiting.message}")
			if strings.HasPrefix(m, "back-off 20s") || strings.HasPrefix(m, "back-off 40s") {
				return nil
			}
			return fmt.Errorf("back-off did not grow from %q: now %q", first, m)
		})
	})

	t.Run("StartError", func(t *testing.T) {
		t.Parallel()
		ns := "starterr"
		s.namespace(t, ns)
		s.mustKubectl(t, "-n", ns, "run", "nocmd", "--image="+image, "--restart=Never", "--", "/no/such/command")
		eventually(t, 60*time.Second, func() error {
			reason := s.podField(t, ns, "nocmd", "{.status.containerStatuses[0].state.terminated.reason}")
			msg := s.podField(t, ns, "nocmd", "{.status.containerStatuses[0].state.terminated.message}")
			if reason != "StartError" || !strings.Contains(msg, "/no/such/command") {
				return fmt.Errorf("terminated reason %q message %q", reason, msg)
			}
			return nil
		})
		s.waitPod(t, ns, "nocmd", "{.status.phase}", "Failed", 30*time.Second)
	})

	t.Run("GracefulDeletion", func(t *testing.T) {
		t.Parallel()
		ns := "grace"
		s.namespace(t, ns)
		s.mustKubectl(t, "-n", ns, "run", "stubborn", "--image="+image, "--", "sh", "-c", "trap '' TERM; while true; do sleep 1; done")
		s.mustKubectl(t, "-n", ns, "run", "polite", "--image="+image, "--", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done")
		s.waitPod(t, ns, "stubborn", "{.status.phase}", "Running", 60*time.Second)
		s.waitPod(t, ns, "polite", "{.status.phase}", "Running", 60*time.Second)
		start := time.Now()
		s.mustKubectl(t, "-n", ns, "delete", "pod", "stubborn", "--grace-period=5")
		if d := time.Since(start); d < 4*time.Second || d > 15*time.Second {
			t.Errorf("deleting a pod that ignores SIGTERM with --grace-period=5 took %v, want about 5s", d)
		}
		start = time.Now()
		s.mustKubectl(t, "-n", ns, "delete", "pod", "polite")
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("deleting a pod that exits on SIGTERM took %v, want at once", d)
		}
	})

	t.Run("PodToPod", func(t *testing.T) {
		t.Parallel()
		ns := "net"
		s.namespace(t, ns)
		s.mustKubectl(t, "-n", ns, "run", "server", "--image="+image, "--", "httpd", "-f", "-p", "8080", "-h", "/www")
		s.waitPod(t, ns, "server", "{.status.phase}", "Running", 60*time.Second)
		ip := s.podField(t, ns, "server", "{.status.podIP}")
		if ip == "" {
			t.Fatal("server has no pod IP")
		}
		s.mustKubectl(t, "-n", ns, "run", "client", "--image="+image, "--restart=Never", "--", "wget", "-qO-", "http://"+ip+":8080/index.html")
		s.waitPod(t, ns, "client", "{.status.phase}", "Succeeded", 60*time.Second)
		if out := s.mustKubectl(t, "-n", ns, "logs", "client"); !strings.Contains(out, "hello from berth") {
			t.Errorf("client fetched %q from %s", out, ip)
		}
	})

	t.Run("Probes", func(t *testing.T) {
		t.Parallel()
		ns := "probes"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: gated, namespace: %[1]s}
spec:
  containers:
  - name: app
    image: %[2]s
    command: ["sh", "-c", "sleep 4; touch /tmp/ready; sleep 3600"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: sick, namespace: %[1]s}
spec:
  containers:
  - name: app
    image: %[2]s
    command: ["sleep", "3600"]
    livenessProbe:
      exec: {command: ["false"]}
      periodSeconds: 1
      failureThreshold: 2
`, ns, image))
		s.waitPod(t, ns, "gated", "{.status.phase}", "Running", 60*time.Second)
		if ready := s.podField(t, ns, "gated", "{.status.containerStatuses[0].ready}"); ready == "true" {
			t.Errorf("container ready before its readiness probe passed")
		}
		s.waitPod(t, ns, "gated", `{.status.conditions[?(@.type=="Ready")].status}`, "True", 60*time.Second)
		eventually(t, 60*time.Second, func() error {
			n, _ := strconv.Atoi(s.podField(t, ns, "sick", "{.status.containerStatuses[0].restartCount}"))
			if n < 1 {
				return fmt.Errorf("a failing liveness probe has not restarted the container yet")
			}
			return nil
		})
		if out := s.mustKubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=sick"); !strings.Contains(out, "Liveness probe failed") {
			t.Errorf("no Unhealthy event: %s", out)
		}
	})

	t.Run("Volumes", func(t *testing.T) {
		t.Parallel()
		ns := "vol"
		s.namespace(t, ns)
		s.mustKubectl(t, "-n", ns, "create", "configmap", "cfg", "--from-literal=greeting=hello-cm")
		s.mustKubectl(t, "-n", ns, "create", "secret", "generic", "sec", "--from-literal=token=s3cr3t-vol")
		s.addSecret("s3cr3t-vol")
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: vols, namespace: %s}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "cat /cfg/greeting; echo; test \"$(cat /sec/token)\" = s3cr3t-vol && echo secret-ok; echo scratch > /scratch/f && cat /scratch/f"]
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec, readOnly: true}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - {name: cfg, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec}}
  - {name: scratch, emptyDir: {}}
`, ns, image))
		s.waitPod(t, ns, "vols", "{.status.phase}", "Succeeded", 60*time.Second)
		out := s.mustKubectl(t, "-n", ns, "logs", "vols")
		for _, want := range []string{"hello-cm", "secret-ok", "scratch"} {
			if !strings.Contains(out, want) {
				t.Errorf("volume output %q lacks %q", out, want)
			}
		}
	})
}

// TestPodsSurviveServerKill: SIGKILL the server; on restart with the same
// data dir the pods are still Running with the same containers.
func TestPodsSurviveServerKill(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/busybox:v1", testregistry.Image{})
	ns := "adopt"
	s.namespace(t, ns)
	s.mustKubectl(t, "-n", ns, "run", "long", "--image="+image, "--", "sleep", "3600")
	s.waitPod(t, ns, "long", "{.status.phase}", "Running", 60*time.Second)
	before := s.podField(t, ns, "long", "{.status.containerStatuses[0].containerID}")
	if _, err := s.stop(syscall.SIGKILL); err == nil {
		t.Log("server exited 0 on SIGKILL?")
	}
	s.start(t)
	// Give the agent a few relists to (wrongly) restart anything.
	time.Sleep(3 * time.Second)
	s.waitPod(t, ns, "long", "{.status.phase}", "Running", 30*time.Second)
	after := s.podField(t, ns, "long", "{.status.containerStatuses[0].containerID}")
	if before == "" || before != after {
		t.Errorf("container ID changed across a server SIGKILL: %q → %q", before, after)
	}
	if n := s.podField(t, ns, "long", "{.status.containerStatuses[0].restartCount}"); n != "0" {
		t.Errorf("restartCount after adoption = %s, want 0", n)
	}
}

// containerdPID finds the containerd child of the server on dataDir by
// its config path; the test started that server, and so this child.
func containerdPID(t testing.TB, dataDir string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	want := filepath.Join(dataDir, "containerd", "config.toml")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "containerd" && strings.Contains(string(b), want) {
			return pid
		}
	}
	return 0
}

// TestContainerdKilled: containerd dies while pods run; berth restarts it,
// the agent reconnects, the pods are still reported Running with the same
// containers, and new pods start.
func TestContainerdKilled(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/busybox:v1", testregistry.Image{})
	ns := "crd"
	s.namespace(t, ns)
	s.mustKubectl(t, "-n", ns, "run", "before", "--image="+image, "--", "sleep", "3600")
	s.waitPod(t, ns, "before", "{.status.phase}", "Running", 60*time.Second)
	id := s.podField(t, ns, "before", "{.status.containerStatuses[0].containerID}")
	pid := containerdPID(t, s.dataDir)
	if pid == 0 {
		t.Fatal("cannot find berth's containerd child")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if p := containerdPID(t, s.dataDir); p == 0 || p == pid {
			return fmt.Errorf("containerd not restarted yet")
		}
		return nil
	})
	s.mustKubectl(t, "-n", ns, "run", "after", "--image="+image, "--", "sleep", "3600")
	s.waitPod(t, ns, "after", "{.status.phase}", "Running", 60*time.Second)
	if got := s.podField(t, ns, "before", "{.status.containerStatuses[0].containerID}"); got != id {
		t.Errorf("container of the running pod changed across a containerd restart: %s → %s", id, got)
	}
	if n := s.podField(t, ns, "before", "{.status.containerStatuses[0].restartCount}"); n != "0" {
		t.Errorf("restartCount = %s after a containerd restart, want 0", n)
	}
	out := s.mustKubectl(t, "-n", ns, "exec", "before", "--", "echo", "alive")
	if strings.TrimSpace(out) != "alive" {
		t.Errorf("exec after containerd restart: %q", out)
	}
}
