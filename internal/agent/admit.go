package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilsysctl "k8s.io/component-helpers/node/util/sysctl"
	"k8s.io/kubernetes/pkg/security/apparmor"
)

// The node's own pod admission, as the kubelet's admit handlers that
// concern the node's kernel: sysctls outside the safe set, and AppArmor
// profiles on a kernel without AppArmor. A refused pod fails at once
// (the kubelet's rejectPod): an event, phase Failed, the reason, and
// "Pod was rejected: <message>".

// safeSysctls is the kubelet's default allowlist (pkg/kubelet/sysctl,
// safe_sysctls.go); every one of them is namespaced on the kernels berth
// supports.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced":              true,
	"net.ipv4.ip_local_port_range":        true,
	"net.ipv4.tcp_syncookies":             true,
	"net.ipv4.ping_group_range":           true,
	"net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.ip_local_reserved_ports":    true,
	"net.ipv4.tcp_keepalive_time":         true,
	"net.ipv4.tcp_fin_timeout":            true,
	"net.ipv4.tcp_keepalive_intvl":        true,
	"net.ipv4.tcp_keepalive_probes":       true,
	"net.ipv4.tcp_rmem":                   true,
	"net.ipv4.tcp_wmem":                   true,
	"net.ipv4.tcp_slow_start_after_idle":  true,
	"net.ipv4.tcp_notsent_lowat":          true,
}

// admitPod returns the kubelet's rejection reason and message, or ok.
func admitPod(pod *corev1.Pod, appArmor apparmor.Validator) (reason, message string, ok bool) {
	if psc := pod.Spec.SecurityContext; psc != nil {
		for _, s := range psc.Sysctls {
			if err := checkSysctl(s.Name, pod.Spec.HostNetwork, pod.Spec.HostIPC); err != nil {
				return "SysctlForbidden", fmt.Sprintf("forbidden sysctl: %v", err), false
			}
		}
	}
	if appArmor != nil {
		if err := appArmor.Validate(pod); err != nil {
			return "AppArmor", fmt.Sprintf("Cannot enforce AppArmor: %v", err), false
		}
	}
	return "", "", true
}

// checkSysctl is the kubelet's validateSysctl over the default allowlist.
func checkSysctl(name string, hostNet, hostIPC bool) error {
	name = utilsysctl.NormalizeName(name)
	if !safeSysctls[name] {
		return fmt.Errorf("%q not allowlisted", name)
	}
	ns, _, _ := utilsysctl.GetNamespace(name)
	if (ns == utilsysctl.NetNamespace && hostNet) || (ns == utilsysctl.IPCNamespace && hostIPC) {
		return fmt.Errorf("%q not allowed with host %s enabled", name, ns)
	}
	return nil
}

// rejectPod is the kubelet's rejectPod.
func (a *Agent) rejectPod(ctx context.Context, pod *corev1.Pod, reason, message string) {
	a.recorder.Event(pod, corev1.EventTypeWarning, reason, message)
	pod.Status = corev1.PodStatus{QOSClass: pod.Status.QOSClass, Phase: corev1.PodFailed, Reason: reason,
		Message: "Pod was rejected: " + message}
	if _, err := a.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		a.log.Warn("writing a rejected pod's status", "pod", podKey(pod), "err", err)
	}
}

// admitNew admits a pod the node has not started yet; false: rejected.
func (w *podWorker) admitNew(ctx context.Context, pod *corev1.Pod, rt *podRuntime) bool {
	if len(rt.sandboxes) > 0 || len(rt.containers) > 0 || (pod.Status.Phase != "" && pod.Status.Phase != corev1.PodPending) {
		return true
	}
	reason, msg, ok := admitPod(pod, w.a.appArmor)
	if !ok {
		w.a.rejectPod(ctx, pod, reason, msg)
	}
	return ok
}
