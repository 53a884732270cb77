package cri_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/containerd"
	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/critest"
	"github.com/berth-dev/berth/internal/testutil/ci"
)

// testImage is the busybox image imported into the test containerd. Its
// registry host does not resolve, so nothing is ever pulled by accident.
const testImage = "berth.test/critest/busybox:1.35"

// TestContainerd runs the conformance suite against a real containerd
// through Client, measures pod start-up over raw CRI, and checks that a
// Client survives a containerd restart.
func TestContainerd(t *testing.T) {
	tc := startContainerd(t)
	t.Run("Conformance", func(t *testing.T) {
		critest.Run(t, func(t *testing.T) (cri.Runtime, string) {
			return tc.dial(t), testImage
		})
	})
	t.Run("Timings", func(t *testing.T) { testTimings(t, tc) })
	// Last: it restarts containerd.
	t.Run("Restart", func(t *testing.T) { testRestart(t, tc) })
}

// testTimings measures what the agent sees when it starts a pod:
// RunPodSandbox, CreateContainer, StartContainer (RUNNING on return), and
// the teardown, over raw CRI with warm images. It logs medians; it asserts
// nothing about speed.
func testTimings(t *testing.T, tc *testContainerd) {
	c := tc.dial(t)
	const n = 5
	var runp, create, start, teardown []time.Duration
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		uid := randHex(8)
		sc := &runtimeapi.PodSandboxConfig{
			Metadata: &runtimeapi.PodSandboxMetadata{Name: fmt.Sprintf("timing-%d", i), Namespace: "critest", Uid: uid},
			Hostname: "timing",
			Labels:   map[string]string{critest.LabelPodUID: uid},
			Linux: &runtimeapi.LinuxPodSandboxConfig{
				CgroupParent:    critest.CgroupParent,
				SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}},
			},
		}
		t0 := time.Now()
		sb, err := c.RunPodSandbox(ctx, sc, "")
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t1 := time.Now()
		id, err := c.CreateContainer(ctx, sb, &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
			Image:    &runtimeapi.ImageSpec{Image: testImage},
			Command:  []string{"sleep", "3600"},
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER},
			}},
		}, sc)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t2 := time.Now()
		if err := c.StartContainer(ctx, id); err != nil {
			cancel()
			t.Fatal(err)
		}
		t3 := time.Now()
		if st, err := c.ContainerStatus(ctx, id); err != nil || st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Errorf("after StartContainer: %v, %v", st.GetState(), err)
		}
		t4 := time.Now()
		if err := c.StopPodSandbox(ctx, sb); err != nil {
			t.Error(err)
		}
		if err := c.RemovePodSandbox(ctx, sb); err != nil {
			t.Error(err)
		}
		teardown = append(teardown, time.Since(t4))
		runp, create, start = append(runp, t1.Sub(t0)), append(create, t2.Sub(t1)), append(start, t3.Sub(t2))
		cancel()
	}
	med := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2].Round(time.Millisecond)
	}
	t.Logf("median of %d (raw CRI, warm image): RunPodSandbox %v, CreateContainer %v, StartContainer %v (total %v); Stop+RemovePodSandbox %v",
		n, med(runp), med(create), med(start), med(runp)+med(create)+med(start), med(teardown))
	t.Logf("all: runp %v create %v start %v teardown %v", runp, create, start, teardown)
}

// testRestart: while containerd is down a call fails with ErrUnavailable
// at once instead of hanging, and the same Client works again after
// containerd is back (grpc reconnects by itself).
func testRestart(t *testing.T, tc *testContainerd) {
	c := tc.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Version(ctx); err != nil {
		t.Fatal(err)
	}
	tc.cancel()
	if err := <-tc.done; err != nil {
		t.Fatalf("stopping containerd: %v", err)
	}
	t0 := time.Now()
	_, err := c.Version(ctx)
	if !errors.Is(err, cri.ErrUnavailable) {
		t.Fatalf("Version while containerd is down: %v, want ErrUnavailable", err)
	}
	t.Logf("while down: %v after %v", err, time.Since(t0).Round(time.Millisecond))

	// Start it again on the same data dir.
	sup, err := containerd.New(containerd.Config{
		DataDir:     tc.dir,
		NetworkName: tc.bridge,
		ClusterCIDR: tc.cidr,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	tc.sup, tc.cancel, tc.done = sup, rcancel, make(chan error, 1)
	go func() { tc.done <- sup.Run(rctx) }()
	select {
	case <-sup.Ready():
	case <-ctx.Done():
		t.Fatalf("containerd not ready again\n%s", tc.logTail())
	}
	t0 = time.Now()
	for {
		_, err := c.Version(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, cri.ErrUnavailable) || ctx.Err() != nil {
			t.Fatalf("after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the client answered again %v after containerd was ready", time.Since(t0).Round(time.Millisecond))
}

// testContainerd is a containerd started for one test by
// internal/containerd, with its data dir (socket, root, state, CNI
// network and bridge) in a short /tmp dir.
type testContainerd struct {
	dir      string
	sock     string
	bridge   string
	endpoint string
	cidr     string
	sup      *containerd.Containerd
	cancel   context.CancelFunc
	done     chan error
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
		ci.Skipf(t, "real containerd: needs root (containerd, runc, CNI bridge and mounts)")
	}
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			ci.Skipf(t, "real containerd: %s not on PATH (apt-get install containerd runc)", bin)
		}
	}
	for _, p := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"} {
		if _, err := os.Stat(p); err != nil {
			ci.Skipf(t, "real containerd: CNI plugin %s missing (apt-get install containernetworking-plugins)", p)
		}
	}
	if _, err := os.Stat(critest.BusyboxPath); err != nil {
		ci.Skipf(t, "real containerd: %s missing for the test image (apt-get install busybox-static)", critest.BusyboxPath)
	}
}

// startContainerd starts containerd (internal/containerd: generated
// config with restrict_oom_score_adj, runc, cgroupfs, CNI bridge, its own
// pause image as sandbox_image) in a short /tmp dir (unix socket paths
// must stay under 108 bytes), waits for Ready, imports the busybox test
// image with ctr, and registers a cleanup that removes every pod, stops
// containerd, ends the shims it started, unmounts, and removes the cgroup
// parent, the bridge and the dir.
func startContainerd(t *testing.T) *testContainerd {
	t.Helper()
	requireContainerd(t)
	dir, err := os.MkdirTemp("/tmp", "bcri-")
	if err != nil {
		t.Fatal(err)
	}
	network := "berth-t" + randHex(3) // ≤ 15 bytes: also the bridge name
	cidr := fmt.Sprintf("10.%d.%d.0/24", 200+int(randByte()%40), randByte())
	sup, err := containerd.New(containerd.Config{
		DataDir:     dir,
		NetworkName: network,
		ClusterCIDR: cidr,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tc := &testContainerd{
		dir:      dir,
		endpoint: sup.Endpoint(),
		sock:     strings.TrimPrefix(sup.Endpoint(), "unix://"),
		bridge:   network,
		cidr:     cidr,
		sup:      sup,
		cancel:   cancel,
		done:     make(chan error, 1),
	}
	t.Cleanup(func() { tc.cleanup(t) })

	// Build the test image while containerd starts.
	image := make(chan error, 1)
	var tarPath string
	go func() {
		var err error
		tarPath, err = critest.BuildBusyboxOCI(dir, testImage)
		image <- err
	}()

	start := time.Now()
	go func() { tc.done <- sup.Run(ctx) }()
	select {
	case <-sup.Ready():
	case err := <-tc.done:
		tc.done <- err
		t.Fatalf("containerd: %v\n%s", err, tc.logTail())
	case <-time.After(60 * time.Second):
		t.Fatalf("containerd not ready after 60 s\n%s", tc.logTail())
	}
	t.Logf("containerd ready in %v (%s, sandbox image %s)", time.Since(start).Round(time.Millisecond), dir, sup.PauseImage())

	if err := <-image; err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	ictx, icancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer icancel()
	out, err := exec.CommandContext(ictx, "ctr", "--address", tc.sock, "-n", "k8s.io", "images", "import", tarPath).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr images import %s: %v\n%s", tarPath, err, out)
	}
	// CRI learns about imported images from containerd's events: wait for it.
	c := tc.dial(t)
	for {
		img, err := c.ImageStatus(ictx, &runtimeapi.ImageSpec{Image: testImage})
		if err != nil {
			t.Fatalf("ImageStatus(%s): %v", testImage, err)
		}
		if img != nil {
			break
		}
		if ictx.Err() != nil {
			t.Fatalf("image %s imported but CRI does not see it", testImage)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("test image built and imported in %v", time.Since(start).Round(time.Millisecond))
	return tc
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
	b, _ := os.ReadFile(tc.sup.LogPath())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// cleanup undoes startContainerd, in the order runtime-notes.md gives:
// pods via CRI (shims outlive containerd and hold mounts, netns and
// cgroups), containerd (internal/containerd: SIGTERM, SIGKILL after 5 s),
// the shims it started (found by their -address argument), mounts under
// dir, the cgroup parent, the bridge, dir.
func (tc *testContainerd) cleanup(t *testing.T) {
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
	tc.cancel()
	if err := <-tc.done; err != nil {
		t.Logf("cleanup: containerd: %v", err)
	}
	if t.Failed() {
		t.Logf("containerd log (tail):\n%s", tc.logTail())
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
