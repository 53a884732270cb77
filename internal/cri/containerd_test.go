package cri_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/critest"
)

// Images imported into the test containerd. The registry host does not
// resolve, so nothing is ever pulled by accident.
const (
	testImage    = "berth.test/critest/busybox:1.35"
	sandboxImage = "berth.test/critest/pause:1"
)

// testContainerd is a containerd started for one test, with its own
// socket, root, state, runc root, CNI network and bridge under dir.
type testContainerd struct {
	dir      string
	sock     string
	bridge   string
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	logPath  string
	endpoint string
}

// requireContainerd skips the test unless this machine can run containerd
// with CRI: root, containerd, ctr, runc and the CNI plugins, and a static
// busybox for the test image.
func requireContainerd(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("real containerd: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("real containerd: needs root (containerd, runc, CNI bridge and mounts)")
	}
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("real containerd: %s not on PATH (apt-get install containerd runc)", bin)
		}
	}
	for _, p := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("real containerd: CNI plugin %s missing (apt-get install containernetworking-plugins)", p)
		}
	}
	if _, err := os.Stat(critest.BusyboxPath); err != nil {
		t.Skipf("real containerd: %s missing for the test image (apt-get install busybox-static)", critest.BusyboxPath)
	}
}

var configTemplate = template.Must(template.New("config.toml").Parse(`version = 2
root = "{{.Dir}}/root"
state = "{{.Dir}}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{{.Sock}}"
[ttrpc]
  address = "{{.Sock}}.ttrpc"
[debug]
  address = "{{.Dir}}/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{{.Dir}}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{{.SandboxImage}}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    max_container_log_line_size = 16384
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "{{.Runc}}"
          Root = "{{.Dir}}/runc"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{{.Dir}}/net.d"
      max_conf_num = 1
`))

var conflistTemplate = template.Must(template.New("conflist").Parse(`{ "cniVersion": "1.0.0", "name": "{{.Network}}",
  "plugins": [
    { "type": "bridge", "bridge": "{{.Bridge}}", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "{{.Subnet}}" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "{{.Dir}}/ipam" } } ] }
`))

// startContainerd starts containerd in a short /tmp dir (unix socket
// paths must stay under 108 bytes), waits until CRI reports RuntimeReady
// and NetworkReady, imports the test and sandbox images, and registers a
// cleanup that removes every pod, stops containerd, ends the shims it
// started, unmounts, and removes the cgroups, bridge and dir.
func startContainerd(t *testing.T) *testContainerd {
	t.Helper()
	requireContainerd(t)
	dir, err := os.MkdirTemp("/tmp", "bcri-")
	if err != nil {
		t.Fatal(err)
	}
	suffix := randHex(3)
	runc, _ := exec.LookPath("runc")
	tc := &testContainerd{
		dir:     dir,
		sock:    filepath.Join(dir, "containerd.sock"),
		bridge:  "bcri" + suffix, // ≤ 15 characters
		exited:  make(chan struct{}),
		logPath: filepath.Join(dir, "containerd.log"),
	}
	tc.endpoint = "unix://" + tc.sock
	t.Cleanup(func() { tc.cleanup(t) })

	var cfg, conf bytes.Buffer
	b := randByte()
	params := map[string]string{
		"Dir": dir, "Sock": tc.sock, "SandboxImage": sandboxImage, "Runc": runc,
		"Network": "bcri-" + suffix, "Bridge": tc.bridge,
		"Subnet": fmt.Sprintf("10.%d.%d.0/24", 200+int(b%40), randByte()),
	}
	if err := configTemplate.Execute(&cfg, params); err != nil {
		t.Fatal(err)
	}
	if err := conflistTemplate.Execute(&conf, params); err != nil {
		t.Fatal(err)
	}
	must(t, os.MkdirAll(filepath.Join(dir, "net.d"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "config.toml"), cfg.Bytes(), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "net.d", "10-bcri.conflist"), conf.Bytes(), 0o644))

	// Build the images while containerd starts.
	type built struct {
		paths []string
		err   error
	}
	images := make(chan built, 1)
	go func() {
		p1, err := critest.BuildBusyboxOCI(dir, testImage)
		if err != nil {
			images <- built{err: err}
			return
		}
		p2, err := critest.BuildBusyboxOCIWithCmd(dir, sandboxImage, []string{"sleep", "2147483647"})
		images <- built{paths: []string{p1, p2}, err: err}
	}()

	start := time.Now()
	if err := tc.start(filepath.Join(dir, "config.toml")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := tc.waitReady(ctx); err != nil {
		t.Fatalf("containerd not ready: %v\n%s", err, tc.logTail())
	}
	t.Logf("containerd ready in %v (%s)", time.Since(start).Round(time.Millisecond), dir)

	bi := <-images
	if bi.err != nil {
		t.Fatal(bi.err)
	}
	start = time.Now()
	for _, p := range bi.paths {
		out, err := exec.CommandContext(ctx, "ctr", "--address", tc.sock, "-n", "k8s.io", "images", "import", p).CombinedOutput()
		if err != nil {
			t.Fatalf("ctr images import %s: %v\n%s", p, err, out)
		}
	}
	// CRI learns about imported images from containerd events: wait until it sees them.
	c := tc.dial(t)
	for _, ref := range []string{testImage, sandboxImage} {
		for {
			img, err := c.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: ref})
			if err != nil {
				t.Fatalf("ImageStatus(%s): %v", ref, err)
			}
			if img != nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("image %s imported but CRI does not see it", ref)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("images built and imported in %v", time.Since(start).Round(time.Millisecond))
	return tc
}

// start runs containerd in its own process group. The goroutine that
// starts it keeps its OS thread locked until containerd exits, so that
// Pdeathsig (sent when that thread dies) only fires if the test binary
// dies.
func (tc *testContainerd) start(config string) error {
	logf, err := os.Create(tc.logPath)
	if err != nil {
		return err
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logf.Close()
		cmd := exec.Command("containerd", "--config", config)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			started <- err
			close(tc.exited)
			return
		}
		tc.cmd = cmd
		started <- nil
		tc.waitErr = cmd.Wait()
		close(tc.exited)
	}()
	return <-started
}

func (tc *testContainerd) waitReady(ctx context.Context) error {
	var last error
	for ctx.Err() == nil {
		select {
		case <-tc.exited:
			return fmt.Errorf("containerd exited: %v", tc.waitErr)
		default:
		}
		if _, err := os.Stat(tc.sock); err == nil {
			c, err := cri.Dial(ctx, tc.endpoint)
			if err == nil {
				st, err := c.Status(ctx)
				c.Close()
				if err == nil && condition(st, runtimeapi.RuntimeReady) && condition(st, runtimeapi.NetworkReady) {
					return nil
				}
				last = fmt.Errorf("status %v, %v", st, err)
			} else {
				last = err
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%v (last: %v)", ctx.Err(), last)
}

func condition(st *runtimeapi.RuntimeStatus, typ string) bool {
	for _, c := range st.GetConditions() {
		if c.GetType() == typ {
			return c.GetStatus()
		}
	}
	return false
}

// dial returns a Client that is closed when t ends.
func (tc *testContainerd) dial(t *testing.T) *cri.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cri.Dial(ctx, tc.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (tc *testContainerd) logTail() string {
	b, _ := os.ReadFile(tc.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// cleanup undoes startContainerd, in the order runtime-notes.md gives:
// pods via CRI (shims outlive containerd and hold mounts, netns and
// cgroups), containerd (SIGTERM, SIGKILL after 5 s), the shims it started
// (found by their -address argument), mounts under dir, the cgroup
// parent, the bridge, dir.
func (tc *testContainerd) cleanup(t *testing.T) {
	if tc.cmd != nil {
		select {
		case <-tc.exited:
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if c, err := cri.Dial(ctx, tc.endpoint); err == nil {
				pods, _ := c.ListPodSandbox(ctx, nil)
				for _, p := range pods {
					if err := c.StopPodSandbox(ctx, p.GetId()); err != nil {
						t.Logf("cleanup: stop sandbox %s: %v", p.GetId(), err)
					}
					if err := c.RemovePodSandbox(ctx, p.GetId()); err != nil {
						t.Logf("cleanup: remove sandbox %s: %v", p.GetId(), err)
					}
				}
				c.Close()
			}
			cancel()
			_ = tc.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-tc.exited:
			case <-time.After(5 * time.Second):
				_ = tc.cmd.Process.Kill()
				<-tc.exited
			}
		}
	}
	for _, pid := range shimsOf(tc.sock) {
		t.Logf("cleanup: killing leftover shim %d", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, m := range mountsUnder(tc.dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Logf("cleanup: umount %s: %v", m, err)
		}
	}
	removeCgroup(critest.CgroupParent)
	_ = exec.Command("ip", "link", "del", tc.bridge).Run()
	if t.Failed() {
		t.Logf("containerd log (tail):\n%s", tc.logTail())
	}
	if err := os.RemoveAll(tc.dir); err != nil {
		t.Logf("cleanup: %v", err)
	}
}

// shimsOf returns the PIDs of containerd-shim processes started by the
// containerd listening on sock (their command line has "-address SOCK").
func shimsOf(sock string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == sock {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// mountsUnder lists mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var ms []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			ms = append(ms, fields[4])
		}
	}
	sort.Slice(ms, func(i, j int) bool { return len(ms[i]) > len(ms[j]) })
	return ms
}

// removeCgroup removes the (empty) cgroup parent in every hierarchy; a
// parent still in use (another run) stays.
func removeCgroup(parent string) {
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		_ = os.Remove(filepath.Join("/sys/fs/cgroup", e.Name(), parent))
	}
	_ = os.Remove(filepath.Join("/sys/fs/cgroup", parent))
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randByte() byte {
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	return b[0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = errors.Is
