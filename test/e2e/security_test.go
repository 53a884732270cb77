package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/containerd"
	"github.com/berth-dev/berth/internal/proxy"
	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestSecurity: the node honours security contexts as the kubelet does,
// PodSecurity admission refuses what a namespace's level forbids, and a
// container cannot hurt the node through the files berth reads for it.
func TestSecurity(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/sec:v1", testregistry.Image{})

	// The subtests run in parallel inside "node"; the reset runs after
	// all of them, on the pods they leave running.
	t.Run("node", func(t *testing.T) {
		t.Run("RunAsNonRootRootImage", func(t *testing.T) {
			t.Parallel()
			ns := "sec-nonroot"
			s.namespace(t, ns)
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: nonroot, namespace: %s}
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: app, image: %s, command: ["sleep", "3600"]}
`, ns, image))
			s.waitPod(t, ns, "nonroot", "{.status.containerStatuses[0].state.waiting.reason}", "CreateContainerConfigError", 60*time.Second)
			uid := s.podField(t, ns, "nonroot", "{.metadata.uid}")
			want := fmt.Sprintf(`container has runAsNonRoot and image will run as root (pod: "nonroot_%s(%s)", container: app)`, ns, uid)
			if got := s.podField(t, ns, "nonroot", "{.status.containerStatuses[0].state.waiting.message}"); got != want {
				t.Errorf("waiting message %q, want %q", got, want)
			}
		})

		t.Run("EphemeralStorageEviction", func(t *testing.T) {
			t.Parallel()
			// The conformance test "evicted pods should be terminal": a
			// container writing past its ephemeral-storage limit into its
			// writable layer is evicted (containerd reports the layer's
			// usage every 10 s, the agent checks every 10 s).
			ns := "sec-evict"
			s.namespace(t, ns)
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: filler, namespace: %s}
spec:
  restartPolicy: OnFailure
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "dd if=/dev/zero of=/file bs=1M count=10; sleep 3600"]
    resources: {limits: {ephemeral-storage: 5Mi}}
`, ns, image))
			s.waitPod(t, ns, "filler", "{.status.reason}", "Evicted", 60*time.Second)
			want := "Pod ephemeral local storage usage exceeds the total limit of containers 5Mi. "
			if got := s.podField(t, ns, "filler", "{.status.phase}/{.status.message}"); got != "Failed/"+want {
				t.Errorf("status %q, want Failed/%s", got, want)
			}
		})

		t.Run("ServiceAccountTokenOwnership", func(t *testing.T) {
			t.Parallel()
			// As the kubelet: the token is 0600 and the pod's user's when all
			// its containers run as one user, plus group read for an fsGroup.
			ns := "sec-token"
			s.namespace(t, ns)
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: owner, namespace: %s}
spec:
  securityContext: {runAsUser: 1000, fsGroup: 10000}
  containers:
  - {name: app, image: %s, command: ["sh", "-c", "stat -L -c '%%a %%u %%g' /var/run/secrets/kubernetes.io/serviceaccount/token; sleep 3600"]}
`, ns, image))
			s.waitPod(t, ns, "owner", "{.status.phase}", "Running", 60*time.Second)
			eventually(t, 20*time.Second, func() error {
				out, _, err := s.kubectl("-n", ns, "logs", "owner")
				if err != nil || strings.TrimSpace(out) != "640 1000 10000" {
					return fmt.Errorf("token mode and owner %q (%v), want 640 1000 10000", out, err)
				}
				return nil
			})
		})

		t.Run("UserGroupsReadOnlyRootCapabilitiesSeccomp", func(t *testing.T) {
			t.Parallel()
			ns := "sec-ids"
			s.namespace(t, ns)
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: ids, namespace: %s}
spec:
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    supplementalGroups: [4000]
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "id; touch /rootfs-file 2>&1; echo written > /data/f && ls -ln /data; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; sleep 3600"]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [CHOWN]}
    volumeMounts: [{name: data, mountPath: /data}, {name: mem, mountPath: /mem}]
  volumes: [{name: data, emptyDir: {}}, {name: mem, emptyDir: {medium: Memory}}]
`, ns, image))
			s.waitPod(t, ns, "ids", "{.status.phase}", "Running", 60*time.Second)
			var out string
			eventually(t, 20*time.Second, func() error {
				out, _, _ = s.kubectl("-n", ns, "logs", "ids")
				if !strings.Contains(out, "NoNewPrivs:") {
					return fmt.Errorf("logs so far: %q", out)
				}
				return nil
			})
			fields := map[string]string{}
			for _, line := range strings.Split(out, "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok {
					fields[k] = strings.TrimSpace(v)
				}
			}
			if !strings.Contains(out, "uid=1000 gid=3000") || !strings.Contains(out, "2000") || !strings.Contains(out, "4000") {
				t.Errorf("id: want uid=1000 gid=3000 with groups 2000 (fsGroup) and 4000:\n%s", out)
			}
			if !strings.Contains(out, "Read-only file system") {
				t.Errorf("readOnlyRootFilesystem: the root file system was writable:\n%s", out)
			}
			// The emptyDir file is the fsGroup's (setgid directory).
			if !strings.Contains(out, " 1000     2000 ") && !strings.Contains(out, " 1000 2000 ") {
				t.Errorf("a file written to the emptyDir is not owned by 1000:2000:\n%s", out)
			}
			capEff, err := strconv.ParseUint(fields["CapEff"], 16, 64)
			if err != nil {
				t.Fatalf("CapEff %q: %v\n%s", fields["CapEff"], err, out)
			}
			// A non-root user keeps no effective capabilities at all; the
			// dropped one (CHOWN, bit 0) must be gone from the bounding set
			// too, which the exec below checks as root.
			_ = capEff
			if fields["Seccomp"] != "2" {
				t.Errorf("Seccomp %q, want 2 (filter: RuntimeDefault)", fields["Seccomp"])
			}
			if fields["NoNewPrivs"] != "1" {
				t.Errorf("NoNewPrivs %q, want 1 (allowPrivilegeEscalation: false)", fields["NoNewPrivs"])
			}
		})

		t.Run("DroppedCapability", func(t *testing.T) {
			t.Parallel()
			ns := "sec-caps"
			s.namespace(t, ns)
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: caps, namespace: %s}
spec:
  containers:
  - name: dropped
    image: %s
    command: ["sleep", "3600"]
    securityContext: {capabilities: {drop: [CHOWN, NET_RAW]}}
  - name: default
    image: %s
    command: ["sleep", "3600"]
`, ns, image, image))
			s.waitPod(t, ns, "caps", "{.status.phase}", "Running", 60*time.Second)
			capOf := func(c string) uint64 {
				out := s.mustKubectl(t, "-n", ns, "exec", "caps", "-c", c, "--", "grep", "CapBnd:", "/proc/self/status")
				v, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "CapBnd:")), 16, 64)
				if err != nil {
					t.Fatalf("CapBnd of %s: %q: %v", c, out, err)
				}
				return v
			}
			const chown, netRaw = 1 << 0, 1 << 13
			if d := capOf("default"); d&chown == 0 || d&netRaw == 0 {
				t.Fatalf("the default container lacks CHOWN or NET_RAW: %x", d)
			}
			if d := capOf("dropped"); d&chown != 0 || d&netRaw != 0 {
				t.Errorf("dropped capabilities still in the bounding set: %x", d)
			}
		})

		t.Run("RestrictedNamespaceRefusesPrivileged", func(t *testing.T) {
			t.Parallel()
			ns := "sec-restricted"
			s.namespace(t, ns)
			s.mustKubectl(t, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
			_, stderr, err := s.kubectlIn(fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: %s}
spec:
  containers:
  - name: app
    image: %s
    securityContext: {privileged: true}
`, ns, image), "apply", "-f", "-")
			want := `pods "priv" is forbidden: violates PodSecurity "restricted:latest": privileged (container "app" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
			if err == nil || !strings.Contains(stderr, "Error from server (Forbidden)") || !strings.Contains(stderr, want) {
				t.Errorf("apply of a privileged pod: err %v, stderr:\n%s\nwant:\n%s", err, stderr, want)
			}
			// warn mode: admitted with kubectl's "Warning:" line.
			s.mustKubectl(t, "label", "namespace", ns, "--overwrite", "pod-security.kubernetes.io/enforce=privileged", "pod-security.kubernetes.io/warn=baseline")
			_, stderr, err = s.kubectlIn(fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: %s}
spec:
  containers:
  - {name: app, image: %s, command: ["sleep", "3600"], securityContext: {privileged: true}}
`, ns, image), "apply", "-f", "-")
			if err != nil || !strings.Contains(stderr, `Warning: would violate PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)`) {
				t.Errorf("warn mode: err %v, stderr:\n%s", err, stderr)
			}
		})

		t.Run("TerminationMessageFileBounded", func(t *testing.T) {
			t.Parallel()
			ns := "sec-termmsg"
			s.namespace(t, ns)
			before := rssKiB(t, s.cmd.Process.Pid)
			// 1 GiB in the termination-message file; the agent reads it on
			// every status update of the exited container.
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: bigmsg, namespace: %s}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "head -c 1073741824 /dev/zero > /dev/termination-log; echo done-marker >> /dev/termination-log; exit 3"]
`, ns, image))
			s.waitPod(t, ns, "bigmsg", "{.status.phase}", "Failed", 90*time.Second)
			msg := s.podField(t, ns, "bigmsg", "{.status.containerStatuses[0].state.terminated.message}")
			if !strings.HasSuffix(msg, "done-marker\n") {
				t.Errorf("message does not end with the file's end: %q", msg[max(0, len(msg)-40):])
			}
			// A few more status updates.
			s.mustKubectl(t, "-n", ns, "label", "pod", "bigmsg", "poke=1")
			time.Sleep(2 * time.Second)
			after := rssKiB(t, s.cmd.Process.Pid)
			if after-before > 96<<10 {
				t.Errorf("berth's RSS grew from %d KiB to %d KiB reading a 1 GiB termination-message file", before, after)
			}
		})

		t.Run("ContainerLogRotated", func(t *testing.T) {
			t.Parallel()
			ns := "sec-logs"
			s.namespace(t, ns)
			// 3 × 24 MiB to stdout, 11 s apart: each burst is over the
			// 10 MiB limit by the next 10 s check.
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: chatty, namespace: %s}
spec:
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "for i in 1 2 3; do head -c 25165824 /dev/zero; echo; echo burst-$i; sleep 11; done; echo finished; sleep 3600"]
`, ns, image))
			s.waitPod(t, ns, "chatty", "{.status.phase}", "Running", 60*time.Second)
			uid := s.podField(t, ns, "chatty", "{.metadata.uid}")
			logDir := filepath.Join(s.dataDir, "agent", "pods", ns+"_chatty_"+uid, "logs", "app")
			eventually(t, 60*time.Second, func() error {
				out, _, _ := s.kubectl("-n", ns, "logs", "chatty", "--tail=1")
				if strings.TrimSpace(out) != "finished" {
					return fmt.Errorf("last line %q", strings.TrimSpace(out))
				}
				return nil
			})
			entries, err := os.ReadDir(logDir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			var total int64
			rotated := false
			for _, e := range entries {
				info, _ := e.Info()
				total += info.Size()
				names = append(names, fmt.Sprintf("%s (%d)", e.Name(), info.Size()))
				rotated = rotated || strings.Contains(e.Name(), ".log.")
			}
			if !rotated || len(entries) > 5 {
				t.Errorf("log files %v: want rotated files, at most 5", names)
			}
			if total > 40<<20 {
				t.Errorf("the container's logs take %d bytes on disk (%v); 72 MiB were written", total, names)
			}
		})

		t.Run("SubPathSymlinkSwap", func(t *testing.T) {
			t.Parallel()
			ns := "sec-subpath"
			s.namespace(t, ns)
			hostDir := t.TempDir()
			if err := os.WriteFile(filepath.Join(hostDir, "marker"), []byte("host-secret\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: swap, namespace: %s}
spec:
  initContainers:
  - name: prepare
    image: %s
    command: ["sh", "-c", "mkdir -p /vol/sub && echo volume > /vol/sub/marker && while [ ! -e /vol/go ]; do sleep 0.2; done"]
    volumeMounts: [{name: vol, mountPath: /vol}]
  containers:
  - name: reader
    image: %s
    command: ["sh", "-c", "cat /mnt/marker; exit 1"]
    volumeMounts: [{name: vol, mountPath: /mnt, subPath: sub}]
  volumes: [{name: vol, emptyDir: {}}]
`, ns, image, image))
			uid := ""
			eventually(t, 60*time.Second, func() error {
				if uid = s.podField(t, ns, "swap", "{.metadata.uid}"); uid == "" {
					return fmt.Errorf("no pod yet")
				}
				return nil
			})
			vdir := filepath.Join(s.dataDir, "agent", "pods", ns+"_swap_"+uid, "volumes", "kubernetes.io~empty-dir", "vol")
			eventually(t, 60*time.Second, func() error {
				_, err := os.Stat(filepath.Join(vdir, "sub", "marker"))
				return err
			})
			// The container's directory becomes a symlink to the host.
			if err := os.Rename(filepath.Join(vdir, "sub"), filepath.Join(vdir, "moved")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(hostDir, filepath.Join(vdir, "sub")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(vdir, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			s.waitPod(t, ns, "swap", "{.status.containerStatuses[0].state.waiting.reason}", "CreateContainerConfigError", 60*time.Second)
			if got, want := s.podField(t, ns, "swap", "{.status.containerStatuses[0].state.waiting.message}"),
				`failed to prepare subPath for volumeMount "vol" of container "reader"`; got != want {
				t.Errorf("waiting message %q, want %q", got, want)
			}
			// Now swap back and forth while the agent retries: whatever it
			// catches, the container never sees the host's file.
			stop := make(chan struct{})
			swapped := make(chan struct{})
			go func() {
				defer close(swapped)
				sub, dir, link := filepath.Join(vdir, "sub"), filepath.Join(vdir, "moved"), filepath.Join(vdir, "link")
				_ = os.Symlink(hostDir, link)
				_ = os.Remove(sub)
				for {
					select {
					case <-stop:
						return
					default:
					}
					_ = os.Rename(dir, sub)  // sub is the directory
					_ = os.Rename(sub, dir)  // gone
					_ = os.Rename(link, sub) // sub is the symlink
					_ = os.Rename(sub, link) // gone
				}
			}()
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				if out, _, _ := s.kubectl("-n", ns, "logs", "swap", "-c", "reader"); strings.Contains(out, "host-secret") {
					t.Fatalf("the container read the host's file through a swapped subPath: %q", out)
				}
				time.Sleep(500 * time.Millisecond)
			}
			close(stop)
			<-swapped
			if out, _, _ := s.kubectl("-n", ns, "logs", "swap", "-c", "reader", "--previous"); strings.Contains(out, "host-secret") {
				t.Fatalf("the container read the host's file through a swapped subPath: %q", out)
			}
		})
	})

	t.Run("ResetLeavesNothing", func(t *testing.T) {
		testReset(t, s)
	})
}

// rssKiB is a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// testReset stops the server, leaving its pods running as a crash would,
// and checks that `berth reset` removes every trace of it from the host.
func testReset(t *testing.T, s *server) {
	paths, err := containerd.PathsOf(s.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	uids := strings.Fields(s.mustKubectl(t, "get", "pods", "-A", "-o", "jsonpath={.items[*].metadata.uid}"))
	if len(uids) == 0 {
		t.Fatal("no pods left to reset")
	}
	if _, err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stopping berth: %v", err)
	}
	if len(procsMentioning(paths.DataDir)) == 0 {
		t.Fatal("no shim or container process of the instance before the reset: the test proves nothing")
	}
	out, err := exec.Command(berthBin, "reset", "--data-dir", s.dataDir).CombinedOutput()
	t.Logf("berth reset:\n%s", out)
	if err != nil {
		t.Fatalf("berth reset: %v", err)
	}
	if _, err := net.InterfaceByName(paths.Bridge); err == nil {
		t.Errorf("bridge %s is still there", paths.Bridge)
	}
	if err := exec.Command("nft", "list", "table", "ip", proxy.TableName(s.dataDir)).Run(); err == nil {
		t.Errorf("nftables table %s is still there", proxy.TableName(s.dataDir))
	}
	info, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(info), " "+paths.DataDir+"/") {
		t.Errorf("mounts remain under %s", paths.DataDir)
	}
	if pids := procsMentioning(paths.DataDir); len(pids) > 0 {
		t.Errorf("processes of the instance remain: %v", pids)
	}
	for _, uid := range uids {
		if m, _ := filepath.Glob("/sys/fs/cgroup/*berth/pod" + uid); len(m) > 0 {
			t.Errorf("cgroups remain: %v", m)
		}
		if m, _ := filepath.Glob("/sys/fs/cgroup/*/berth/pod" + uid); len(m) > 0 {
			t.Errorf("cgroups remain: %v", m)
		}
	}
	if _, err := os.Stat(paths.DataDir); err == nil {
		t.Errorf("data dir %s is still there", paths.DataDir)
	}
}

// procsMentioning lists the processes whose command line names dir (the
// instance's containerd and shims name its sockets and config).
func procsMentioning(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), dir+"/") {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
