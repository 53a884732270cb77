package agent

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// ListPods returns the pods bound to this node, from the informer cache,
// for the kubelet endpoint's /pods (the kubelet's pod manager view: a pod
// being deleted stays until its containers stopped and it left the API).
// Before the cache synced the list is empty.
func (a *Agent) ListPods() ([]*corev1.Pod, error) {
	select {
	case <-a.ready:
	default:
		return nil, nil
	}
	pods, err := a.pods.List(everything())
	if err != nil {
		return nil, err
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	return pods, nil
}
