package containerd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/testutil/ci"
)

// requireRuntime skips unless this machine can run real pods.
func requireRuntime(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if os.Geteuid() != 0 {
		ci.Skipf(t, "integration test: needs root to run containerd, runc and CNI")
	}
	for _, bin := range []string{"containerd", "ctr", "runc", "containerd-shim-runc-v2"} {
		if _, err := lookPath(bin); err != nil {
			ci.Skipf(t, "integration test: %v (apt-get install containerd runc containernetworking-plugins)", err)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", plugin)); err != nil {
			ci.Skipf(t, "integration test: CNI plugin missing: %v (apt-get install containernetworking-plugins)", err)
		}
	}
}

// logRecorder is a slog destination that forwards to t.Log and keeps the
// lines, so the test can count events.
type logRecorder struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
	r.t.Log(line)
	return len(p), nil
}

func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.Contains(l, "msg=\""+msg+"\"") {
			n++
		}
	}
	return n
}

// freeTestCIDR picks a /24 under 10.200.0.0/13 that no local interface
// overlaps, so parallel runs and other runtimes do not collide.
func freeTestCIDR(t *testing.T) netip.Prefix {
	t.Helper()
	var used []netip.Prefix
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			used = append(used, p.Masked())
		}
	}
	seed := os.Getpid()
	for i := range 2048 {
		n := (seed + i*7919) % 2048
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(200 + n/256), byte(n % 256), 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p
		}
	}
	t.Fatal("no free /24 under 10.200.0.0/13")
	return netip.Prefix{}
}

// procs lists pids whose command line satisfies match.
func procs(match func(args []string) bool) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

func hasArgPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}

// shimPids are the runc shims serving our containerd (started by this test).
func shimPids(l layout) []int {
	return procs(func(a []string) bool {
		return strings.HasSuffix(a[0], "containerd-shim-runc-v2") && hasArgPair(a, "-address", l.socket)
	})
}

// containerdPids are containerd processes running our config.
func containerdPids(l layout) []int {
	return procs(func(a []string) bool {
		return filepath.Base(a[0]) == "containerd" && hasArgPair(a, "--config", l.configFile)
	})
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie ("Z") has exited.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func childrenOf(ppid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStatus("/proc/" + e.Name() + "/status"); f["PPid"] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// poll calls f until it returns nil or the deadline passes.
func poll(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// running is one Containerd.Run in the background.
type running struct {
	c      *Containerd
	cancel context.CancelFunc
	errc   chan error
	start  time.Time
}

func startRun(t *testing.T, cfg Config) *running {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, errc: make(chan error, 1), start: time.Now()}
	go func() { r.errc <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-r.errc:
		cancel()
		t.Fatalf("Run returned before Ready: %v (log %s)", err, c.LogPath())
	case <-time.After(40 * time.Second):
		cancel()
		_ = <-r.errc
		t.Fatalf("not Ready after 40s (log %s)", c.LogPath())
	}
	return r
}

// stop cancels Run and waits for it; it reports how long that took.
func (r *running) stop(t *testing.T) time.Duration {
	t.Helper()
	t0 := time.Now()
	r.cancel()
	select {
	case err := <-r.errc:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancel")
	}
	r.errc <- nil // later stops return at once
	return time.Since(t0)
}

// criClients connects like the supervisor does (short reconnect back-off,
// so the crash-recovery timing measures containerd, not gRPC's back-off).
func criClients(t *testing.T, c *Containerd) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	t.Helper()
	conn, err := c.dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
}

func sandboxConfig(name, cgroupParent, logDir string) *runtimeapi.PodSandboxConfig {
	uid := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: uid, Namespace: "berth-test"},
		Hostname:     name,
		LogDirectory: filepath.Join(logDir, uid),
		Labels:       map[string]string{"berth-test": "true"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{
					Network: runtimeapi.NamespaceMode_POD,
					Pid:     runtimeapi.NamespaceMode_POD,
					Ipc:     runtimeapi.NamespaceMode_POD,
				},
			},
		},
	}
}

func TestContainerdIntegration(t *testing.T) {
	requireRuntime(t)
	dir, err := os.MkdirTemp("/tmp", "bct")
	if err != nil {
		t.Fatal(err)
	}
	cidr := freeTestCIDR(t)
	rec := &logRecorder{t: t}
	cfg := Config{
		DataDir:     dir,
		ClusterCIDR: cidr.String(),
		Log:         slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	l, err := newLayout(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cgroupParent := "/berth-test-" + filepath.Base(dir)
	var cur *running
	t.Cleanup(func() { cleanupRuntime(t, cur, l, cgroupParent) })
	t.Logf("data dir %s, cluster CIDR %s, network %s, bridge %s", dir, cidr, l.network, l.bridge)

	// 1. First start: config, CNI, containerd, CRI ready, pause imported.
	cur = startRun(t, cfg)
	firstStart := time.Since(cur.start)
	rt, images := criClients(t, cur.c)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	if cur.c.Endpoint() != "unix://"+filepath.Join(dir, "containerd", "containerd.sock") {
		t.Errorf("Endpoint = %s", cur.c.Endpoint())
	}
	st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: cur.c.PauseImage()}})
	if err != nil || st.GetImage() == nil {
		t.Fatalf("ImageStatus(%s) = %v, %v", cur.c.PauseImage(), st, err)
	}
	if st.Image.Id != goldenPauseImageID {
		t.Errorf("pause image ID in containerd = %s, want %s", st.Image.Id, goldenPauseImageID)
	}
	if n := rec.count("pause image imported"); n != 1 {
		t.Errorf("pause image imported %d times on the first start, want 1", n)
	}

	// A second supervisor on the same data dir must refuse to start.
	if err := mustNew(t, cfg).Run(ctx); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Errorf("second Run on the same data dir: %v, want an 'already serves' error", err)
	}

	// 2. A sandbox: run, status, stop, remove.
	runSandbox := func(name string) (string, time.Duration) {
		t.Helper()
		t0 := time.Now()
		resp, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sandboxConfig(name, cgroupParent, filepath.Join(dir, "pods"))})
		if err != nil {
			t.Fatalf("RunPodSandbox %s: %v\ncontainerd log tail:\n%s", name, err, cur.c.logTail())
		}
		return resp.PodSandboxId, time.Since(t0)
	}
	checkReady := func(id string) string {
		t.Helper()
		resp, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
		if err != nil {
			t.Fatalf("PodSandboxStatus %s: %v", id, err)
		}
		if s := resp.GetStatus().GetState(); s != runtimeapi.PodSandboxState_SANDBOX_READY {
			t.Fatalf("sandbox %s is %v, want READY", id, s)
		}
		ip := resp.GetStatus().GetNetwork().GetIp()
		addr, err := netip.ParseAddr(ip)
		if err != nil || !cidr.Contains(addr) {
			t.Fatalf("sandbox %s IP %q is not in %s", id, ip, cidr)
		}
		return ip
	}

	idA, runA := runSandbox("a")
	ipA := checkReady(idA)
	t0 := time.Now()
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: idA}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	stopA := time.Since(t0)
	t0 = time.Now()
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: idA}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	removeA := time.Since(t0)
	if stopA > 5*time.Second {
		t.Errorf("StopPodSandbox took %s: the pause process does not stop promptly", stopA)
	}

	// 3. A sandbox that outlives containerd.
	idB, runB := runSandbox("b")
	ipB := checkReady(idB)
	shims := shimPids(l)
	if len(shims) != 1 {
		t.Fatalf("shims for our socket: %v, want exactly one", shims)
	}
	stopDaemon := cur.stop(t)
	if pids := containerdPids(l); len(pids) != 0 {
		t.Errorf("containerd still running after Run returned: %v", pids)
	}
	if !alive(shims[0]) {
		t.Fatalf("shim %d died with containerd", shims[0])
	}

	// 4. Start again on the same data dir: the sandbox is adopted.
	cur = startRun(t, cfg)
	secondStart := time.Since(cur.start)
	checkAdopted := func(when string) {
		t.Helper()
		list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{Id: idB}})
		if err != nil {
			t.Fatalf("%s: ListPodSandbox: %v", when, err)
		}
		if len(list.Items) != 1 || list.Items[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
			t.Fatalf("%s: sandbox %s: %v, want one READY", when, idB, list.Items)
		}
		if ip := checkReady(idB); ip != ipB {
			t.Errorf("%s: sandbox IP %s, was %s", when, ip, ipB)
		}
	}
	checkAdopted("after restart")
	if n := rec.count("pause image imported"); n != 1 {
		t.Errorf("pause image imported %d times in total, want 1 (it was present)", n)
	}

	// 5. containerd dies: the supervisor restarts it, the sandbox survives.
	pids := containerdPids(l)
	if len(pids) != 1 {
		t.Fatalf("containerd processes for our config: %v", pids)
	}
	t0 = time.Now()
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll(t, "containerd restarted", 20*time.Second, func() error {
		now := containerdPids(l)
		if len(now) != 1 || now[0] == pids[0] {
			return fmt.Errorf("containerd pids %v", now)
		}
		_, err := rt.Version(ctx, &runtimeapi.VersionRequest{})
		return err
	})
	crashRecovery := time.Since(t0)
	if rec.count("containerd exited unexpectedly") != 1 {
		t.Errorf("the crash was not logged")
	}
	checkAdopted("after crash")

	// 6. Clean up the sandbox and stop.
	t0 = time.Now()
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: idB}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	stopB := time.Since(t0)
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: idB}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	poll(t, "shim exits", 10*time.Second, func() error {
		if alive(shims[0]) {
			return fmt.Errorf("shim %d alive", shims[0])
		}
		return nil
	})
	cur.stop(t)

	t.Logf("timings: first start→Ready %s (incl. pause import); restart→Ready %s; RunPodSandbox %s / %s; "+
		"StopPodSandbox %s (adopted: %s); RemovePodSandbox %s; Run stop %s; crash→CRI answers %s; IPs %s %s",
		firstStart.Round(time.Millisecond), secondStart.Round(time.Millisecond), runA.Round(time.Millisecond), runB.Round(time.Millisecond),
		stopA.Round(time.Millisecond), stopB.Round(time.Millisecond), removeA.Round(time.Millisecond), stopDaemon.Round(time.Millisecond),
		crashRecovery.Round(time.Millisecond), ipA, ipB)
}

func mustNew(t *testing.T, cfg Config) *Containerd {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cleanupRuntime undoes what the test created, also after a failure:
// sandboxes (through CRI while containerd runs), containerd, leftover shims
// and their children (all started by this test, found by our socket path),
// mounts under the data dir, the data dir, the cgroup parent and the bridge.
func cleanupRuntime(t *testing.T, cur *running, l layout, cgroupParent string) {
	if cur != nil {
		select {
		case <-cur.c.Ready():
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if conn, err := grpc.NewClient(cur.c.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil {
				rt := runtimeapi.NewRuntimeServiceClient(conn)
				if list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err == nil {
					for _, s := range list.Items {
						t.Logf("cleanup: removing sandbox %s", s.Id)
						_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id})
						_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id})
					}
				}
				conn.Close()
			}
			cancel()
		default:
		}
		cur.cancel()
		select {
		case _ = <-cur.errc:
		case <-time.After(15 * time.Second):
			t.Errorf("cleanup: Run did not return")
		}
	}
	for _, shim := range shimPids(l) {
		for _, child := range childrenOf(shim) {
			t.Logf("cleanup: killing leftover container process %d", child)
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
		t.Logf("cleanup: killing leftover shim %d", shim)
		_ = syscall.Kill(shim, syscall.SIGKILL)
	}
	for _, pid := range containerdPids(l) {
		t.Logf("cleanup: killing leftover containerd %d", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var mounts []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (f[4] == l.dataDir || strings.HasPrefix(f[4], l.dataDir+"/")) {
				mounts = append(mounts, f[4])
			}
		}
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
				t.Logf("cleanup: unmount %s: %v", m, err)
			}
		}
	}
	if err := os.RemoveAll(l.dataDir); err != nil {
		t.Logf("cleanup: %v", err)
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	for _, h := range hierarchies {
		p := filepath.Join(h, cgroupParent)
		subs, _ := filepath.Glob(filepath.Join(p, "*"))
		for _, s := range subs {
			if fi, err := os.Stat(s); err == nil && fi.IsDir() {
				os.Remove(s)
			}
		}
		os.Remove(p)
	}
	if out, err := exec.Command("ip", "link", "del", l.bridge).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("Cannot find device")) {
		t.Logf("cleanup: ip link del %s: %v: %s", l.bridge, err, out)
	}
}
