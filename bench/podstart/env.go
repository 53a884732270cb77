package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
)

// namespace holds the benchmark's pods (berth's in the API; the floor's
// sandboxes carry it in their CRI metadata).
const namespace = "bench-podstart"

// env is berth running, with what the benchmark talks to it with.
type env struct {
	srv     *server
	dataDir string
	cidr    string
	sock    string // containerd's socket, berth's child

	cs             kubernetes.Interface
	watchCS        kubernetes.Interface            // the same without a client timeout, for long watches
	rt             *cri.Client                     // the same CRI client berth's agent uses
	raw            runtimeapi.RuntimeServiceClient // for verbose status (the configs berth sent)
	rawConn        *grpc.ClientConn
	containerdPid  int
	runtimeVersion string

	mu     sync.Mutex
	uids   map[string][]string // pod UIDs used, by owner ("berth", "floor"): their cgroups are removed at the end
	bridge string              // the CNI bridge, once a pod made it
}

func (e *env) addUID(owner, uid string) {
	e.mu.Lock()
	if e.uids == nil {
		e.uids = map[string][]string{}
	}
	e.uids[owner] = append(e.uids[owner], uid)
	e.mu.Unlock()
}

// memSample is the resident memory of berth and of its runtime.
type memSample struct {
	berth, containerd int64 // VmRSS, bytes; -1 unknown
	shims             int   // containerd-shim processes of this containerd
	shimRSS           int64
}

func (e *env) memory() memSample {
	m := memSample{berth: rss(e.srv.pid()), containerd: -1}
	if e.containerdPid > 0 {
		m.containerd = rss(e.containerdPid)
	}
	m.shims, m.shimRSS = shims(e.sock)
	return m
}

// startEnv starts berth and connects to its API and to its containerd. On
// error the returned env (if not nil) still needs teardown.
func startEnv(ctx context.Context, bin, dataDir, cidr string) (*env, error) {
	srv, err := startServer(ctx, bin, dataDir, cidr)
	if err != nil {
		return nil, err
	}
	e := &env{srv: srv, dataDir: dataDir, cidr: cidr, sock: filepath.Join(dataDir, "containerd", "containerd.sock")}
	e.containerdPid = containerdOf(srv.pid())

	rc, err := clientcmd.BuildConfigFromFlags("", srv.kubeconfig)
	if err != nil {
		return e, fmt.Errorf("reading %s: %w", srv.kubeconfig, err)
	}
	// High limits: client-side rate limiting must not be what is measured.
	rc.QPS, rc.Burst = 5000, 10000
	rc.Timeout = 60 * time.Second
	rc.UserAgent = "berth-bench-podstart"
	if e.cs, err = kubernetes.NewForConfig(rc); err != nil {
		return e, err
	}
	wc := *rc
	wc.Timeout = 0
	if e.watchCS, err = kubernetes.NewForConfig(&wc); err != nil {
		return e, err
	}

	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if e.rt, err = cri.Dial(dctx, "unix://"+e.sock); err != nil {
		return e, fmt.Errorf("connecting to berth's containerd: %w", err)
	}
	v, err := e.rt.Version(dctx)
	if err != nil {
		return e, err
	}
	e.runtimeVersion = v.RuntimeName + " " + v.RuntimeVersion
	if e.rawConn, err = grpc.NewClient("unix://"+e.sock, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return e, err
	}
	e.raw = runtimeapi.NewRuntimeServiceClient(e.rawConn)
	return e, nil
}

// teardown removes everything, in an order that leaves nothing behind:
// berth's pods through the API (so the agent stops them as it should), then
// whatever sandbox is left in the runtime (the floor's; berth's if its
// agent failed), then the server (its containerd with it), then the CNI
// bridge and the pods' cgroups, which outlive both.
func (e *env) teardown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var errs []error
	if e.cs != nil {
		progress("cleanup: deleting berth's pods")
		if err := deleteAllPods(ctx, e.cs); err != nil {
			errs = append(errs, err)
		}
	}
	if e.rt != nil {
		if err := removeAllSandboxes(ctx, e.rt); err != nil {
			errs = append(errs, err)
		}
		e.rt.Close()
	}
	if e.rawConn != nil {
		e.rawConn.Close()
	}
	progress("cleanup: stopping berth (SIGTERM)")
	if err := e.srv.stop(); err != nil {
		errs = append(errs, err)
	}
	// berth stops its containerd; make sure, since pods no longer run there.
	if e.containerdPid > 0 {
		deadline := time.Now().Add(10 * time.Second)
		for alive(e.containerdPid, "containerd") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(e.containerdPid, "containerd") {
			_ = syscall.Kill(e.containerdPid, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("berth's containerd (pid %d) outlived the server; killed", e.containerdPid))
		}
	}
	if n, _ := shims(e.sock); n > 0 {
		errs = append(errs, fmt.Errorf("%d containerd-shim processes of %s still run: containers were left behind", n, e.sock))
	}
	if err := e.removeBridge(); err != nil {
		errs = append(errs, err)
	}
	e.mu.Lock()
	uids := maps.Clone(e.uids)
	e.mu.Unlock()
	for _, owner := range slices.Sorted(maps.Keys(uids)) {
		// Neither containerd nor runc removes a pod's cgroup parent; the
		// kubelet does. Whatever is left is reported, then removed.
		if n := removePodCgroups(uids[owner]); n > 0 {
			progress("cleanup: %s left the cgroup directories (/sys/fs/cgroup/*/berth/pod<uid>) of %d of its %d pods; removed",
				owner, n, len(uids[owner]))
		}
	}
	return errors.Join(errs...)
}

// deleteAllPods deletes the benchmark's pods and waits until they are gone.
func deleteAllPods(ctx context.Context, cs kubernetes.Interface) error {
	pods := cs.CoreV1().Pods(namespace)
	l, err := pods.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || (err == nil && len(l.Items) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range l.Items {
		if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting pod %s: %w", p.Name, err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			n := -1
			if l != nil {
				n = len(l.Items)
			}
			return fmt.Errorf("%d pods still there 90s after their deletion (%v); removing their sandboxes through CRI", n, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// removeAllSandboxes stops and removes every sandbox in the runtime. The
// containerd is berth's child on the benchmark's own data dir: all of it is
// the benchmark's. It lists again until nothing is left (a sandbox still
// being created shows up only once RunPodSandbox is done).
func removeAllSandboxes(ctx context.Context, rt cri.Runtime) error {
	deadline := time.Now().Add(time.Minute)
	for {
		sbs, err := rt.ListPodSandbox(ctx, nil)
		if err != nil {
			return fmt.Errorf("listing sandboxes: %w", err)
		}
		if len(sbs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sandboxes still in containerd after a minute of removing them", len(sbs))
		}
		progress("cleanup: removing %d sandboxes left in containerd", len(sbs))
		for _, sb := range sbs {
			if err := rt.StopPodSandbox(ctx, sb.Id); err != nil {
				progress("cleanup: stopping sandbox %s: %v", sb.Id, err)
				continue
			}
			if err := rt.RemovePodSandbox(ctx, sb.Id); err != nil {
				progress("cleanup: removing sandbox %s: %v", sb.Id, err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// pickClusterCIDR returns a 10.202.N.0/24 no interface on this machine and
// no running berth uses.
func pickClusterCIDR() (string, error) {
	used := map[int]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip := ipn.IP.To4(); ip != nil && ip[0] == 10 && ip[1] == 202 {
				used[int(ip[2])] = true
			}
		}
	}
	for _, p := range processes() {
		for _, a := range p.cmdline {
			a = strings.TrimPrefix(a, "--cluster-cidr=")
			if pfx, err := netip.ParsePrefix(a); err == nil && pfx.Addr().Is4() {
				b := pfx.Addr().As4()
				if b[0] == 10 && b[1] == 202 {
					used[int(b[2])] = true
				}
			}
		}
	}
	start := 1 + rand.IntN(254)
	for i := range 254 {
		n := 1 + (start+i)%254
		if !used[n] {
			return fmt.Sprintf("10.202.%d.0/24", n), nil
		}
	}
	return "", errors.New("no free 10.202.N.0/24 for the pod network")
}

// noteBridge remembers the CNI bridge serving the pod range (it exists once
// a pod ran), so that teardown can remove it.
func (e *env) noteBridge() {
	if name := bridgeFor(e.cidr); name != "" {
		e.mu.Lock()
		e.bridge = name
		e.mu.Unlock()
	}
}

// bridgeFor names the berth-* interface holding an address in cidr.
func bridgeFor(cidr string) string {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ""
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if !strings.HasPrefix(i.Name, "berth-") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && pfx.Contains(ip) {
					return i.Name
				}
			}
		}
	}
	return ""
}

// removeBridge deletes the CNI bridge the pods used: the bridge plugin
// creates it and nothing removes it once the pods and the server are gone.
func (e *env) removeBridge() error {
	e.mu.Lock()
	name := e.bridge
	e.mu.Unlock()
	if name == "" {
		name = bridgeFor(e.cidr)
	}
	if name == "" || bridgeFor(e.cidr) != name {
		return nil
	}
	if out, err := exec.Command("ip", "link", "delete", "dev", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link delete %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removePodCgroups removes the (empty) cgroup directories of the given pod
// UIDs, /sys/fs/cgroup/<controller>/berth/pod<uid> and below, deepest
// first. rmdir only succeeds on a cgroup without processes. It returns how
// many pods had directories left.
func removePodCgroups(uids []string) int {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/berth")
	if _, err := os.Stat("/sys/fs/cgroup/berth"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/berth") // cgroup v2
	}
	n := 0
	for _, uid := range uids {
		removed := false
		for _, root := range roots {
			dir := filepath.Join(root, "pod"+uid)
			var dirs []string
			_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				if os.Remove(dirs[i]) == nil && dirs[i] == dir {
					removed = true
				}
			}
		}
		if removed {
			n++
		}
	}
	return n
}
