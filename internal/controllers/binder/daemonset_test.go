package binder

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	daemonutil "k8s.io/kubernetes/pkg/controller/daemon/util"
)

// daemonPod shapes a pod as Kubernetes' DaemonSet controller makes it:
// required node affinity on metadata.name of its node, and the daemon
// tolerations (not-ready and unreachable for NoExecute, disk/memory/pid
// pressure and unschedulable for NoSchedule).
func daemonPod(nodeName string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := pod("agent-x", mutate...)
	p.Spec.Affinity = daemonutil.ReplaceDaemonSetPodNodeNameNodeAffinity(p.Spec.Affinity, nodeName)
	daemonutil.AddOrUpdateDaemonPodTolerations(&p.Spec)
	return p
}

func TestPickNodeDaemonSetPods(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		nodes    []*corev1.Node
		wantNode string
		wantWhy  string
	}{
		{name: "bound to the node its affinity names", pod: daemonPod("n2"),
			nodes: []*corev1.Node{node("n1"), node("n2"), node("n3")}, wantNode: "n2"},
		{name: "tolerates a cordoned node", pod: daemonPod("n1"),
			nodes: []*corev1.Node{node("n1", cordoned)}, wantNode: "n1"},
		// The daemon tolerations cover not-ready for NoExecute only, as in
		// Kubernetes: kube-scheduler does not place them on a node tainted
		// node.kubernetes.io/not-ready:NoSchedule either.
		{name: "waits for a node that is not ready", pod: daemonPod("n1"),
			nodes:   []*corev1.Node{node("n1", ready(corev1.ConditionFalse))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }." + notHelpful1},
		{name: "does not tolerate a user taint",
			pod:     daemonPod("n1"),
			nodes:   []*corev1.Node{node("n1", tainted("dedicated", "gpu", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}." + notHelpful1},
		{name: "template nodeSelector still applies", pod: daemonPod("n1", selecting(map[string]string{"disk": "ssd"})),
			nodes:   []*corev1.Node{node("n1")},
			wantWhy: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + notHelpful1},
		{name: "its node is gone", pod: daemonPod("gone"), nodes: []*corev1.Node{node("n1")},
			wantWhy: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + notHelpful1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := pickNode(tc.pod, tc.nodes)
			if got != tc.wantNode || why != tc.wantWhy {
				t.Errorf("pickNode = %q, %q; want %q, %q", got, why, tc.wantNode, tc.wantWhy)
			}
		})
	}
}
