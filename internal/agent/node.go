package agent

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// nodeStatusInterval is how often the node's status and lease are renewed
// (the kubelet's default nodeLeaseRenewInterval is 10 s).
const nodeStatusInterval = 10 * time.Second

// KubeletVersion is what the Node reports as its kubelet version.
const KubeletVersion = "v1.35.0-berth"

// registerNode creates or updates the Node object with the machine's
// capacity, addresses and a Ready condition.
func (a *Agent) registerNode(ctx context.Context) error {
	nodes := a.cfg.Client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: map[string]string{
			"kubernetes.io/hostname": a.cfg.NodeName, "kubernetes.io/os": goruntime.GOOS, "kubernetes.io/arch": goruntime.GOARCH,
			"beta.kubernetes.io/os": goruntime.GOOS, "beta.kubernetes.io/arch": goruntime.GOARCH,
		}}}
		if a.cfg.PodCIDR != "" {
			node.Spec.PodCIDR, node.Spec.PodCIDRs = a.cfg.PodCIDR, []string{a.cfg.PodCIDR}
		}
		node, err = nodes.Create(ctx, node, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("registering node %q: %w", a.cfg.NodeName, err)
	}
	return a.updateNodeStatus(ctx, node)
}

func (a *Agent) updateNodeStatus(ctx context.Context, node *corev1.Node) error {
	node = node.DeepCopy()
	now := metav1.Now()
	a.fillNodeStatus(ctx, &node.Status, now)
	_, err := a.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

func (a *Agent) fillNodeStatus(ctx context.Context, st *corev1.NodeStatus, now metav1.Time) {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(110, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(diskTotal(a.cfg.DataDir), resource.BinarySI),
	}
	st.Capacity, st.Allocatable = capacity, capacity.DeepCopy()
	st.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.nodeIP}, {Type: corev1.NodeHostName, Address: a.cfg.NodeName}}
	st.DaemonEndpoints.KubeletEndpoint.Port = int32(a.kubeletPort)
	runtimeVersion := "unknown"
	if v, err := a.cfg.Runtime.Version(ctx); err == nil {
		runtimeVersion = v.RuntimeName + "://" + v.RuntimeVersion
	}
	st.NodeInfo = corev1.NodeSystemInfo{
		MachineID: readTrim("/etc/machine-id"), KernelVersion: kernelVersion(), OSImage: osImage(),
		ContainerRuntimeVersion: runtimeVersion, KubeletVersion: KubeletVersion, KubeProxyVersion: "",
		OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH, BootID: readTrim("/proc/sys/kernel/random/boot_id"),
	}
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}
	if _, err := a.cfg.Runtime.Status(ctx); err != nil {
		ready.Status, ready.Reason = corev1.ConditionFalse, "KubeletNotReady"
		ready.Message = "container runtime is down: " + err.Error()
	}
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		ready,
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		for _, old := range st.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status && !old.LastTransitionTime.IsZero() {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	st.Conditions = conds
	st.Phase = ""
}

// heartbeat renews the node status and the node lease until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(nodeStatusInterval)
	defer t.Stop()
	for {
		a.renewLease(ctx)
		if node, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err == nil {
			if err := a.updateNodeStatus(ctx, node); err != nil && ctx.Err() == nil {
				a.log.Warn("updating node status", "node", a.cfg.NodeName, "err", err)
			}
		} else if apierrors.IsNotFound(err) {
			_ = a.registerNode(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) {
	leases := a.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(a.cfg.NodeName), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now},
		}, metav1.CreateOptions{})
		return
	}
	if err != nil {
		return
	}
	lease.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
	lease.Spec.LeaseDurationSeconds = ptr.To[int32](40)
	lease.Spec.RenewTime = &now
	_, _ = leases.Update(ctx, lease, metav1.UpdateOptions{})
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
			return kb * 1024
		}
	}
	return 0
}

func diskTotal(path string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0
	}
	return int64(st.Blocks) * st.Bsize
}

func kernelVersion() string {
	return readTrim("/proc/sys/kernel/osrelease")
}

func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// hostIP picks the address pods see as status.hostIP: the first
// non-loopback IPv4 address of an interface that is up, else 127.0.0.1.
func hostIP() string {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "berth") ||
			strings.HasPrefix(ifc.Name, "cni") || strings.HasPrefix(ifc.Name, "veth") || strings.HasPrefix(ifc.Name, "docker") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// HostIP is the node's default InternalIP: the first non-loopback IPv4
// address of an interface that is up.
func HostIP() string { return hostIP() }
