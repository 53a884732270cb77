package volumes

import (
	"context"
	"path/filepath"

	"github.com/berth-dev/berth/internal/agent/envvars"
	corev1 "k8s.io/api/core/v1"
)

// expandSubPathExpr is kubecontainer.ExpandContainerVolumeMounts: $(VAR)
// references are replaced with the container's environment, and a
// variable that is undefined or empty is an error.
func expandSubPathExpr(expr string, env map[string]string) (string, error) {
	return envvars.ExpandSubPath(expr, env)
}

// containerEnv is the container's environment for subPathExpr when the
// caller of Mounts did not give it (MountsWithEnv is what the agent uses):
// the same builder, with the pod's IPs from its status and no Service
// links (the Manager has no Service informer).
func containerEnv(ctx context.Context, src sources, pod *corev1.Pod, c *corev1.Container, alloc corev1.ResourceList, podDir string) (map[string]string, error) {
	var podIPs, hostIPs []string
	for _, ip := range pod.Status.PodIPs {
		podIPs = append(podIPs, ip.IP)
	}
	if len(podIPs) == 0 && pod.Status.PodIP != "" {
		podIPs = []string{pod.Status.PodIP}
	}
	for _, ip := range pod.Status.HostIPs {
		hostIPs = append(hostIPs, ip.IP)
	}
	if len(hostIPs) == 0 && pod.Status.HostIP != "" {
		hostIPs = []string{pod.Status.HostIP}
	}
	if pod.Spec.HostNetwork {
		podIPs = hostIPs
	}
	links := false
	env, err := envvars.Build(ctx, envvars.Input{
		Pod: withServiceLinks(pod, &links), Container: c, PodIPs: podIPs, NodeIPs: hostIPs,
		ServicesSynced: true, Allocatable: alloc, Sources: envSources{src},
		VolumePath: func(name string) (string, bool) { return VolumePath(pod, podDir, name) },
	})
	if err != nil {
		return nil, err
	}
	return env.Map(), nil
}

func withServiceLinks(pod *corev1.Pod, links *bool) *corev1.Pod {
	if pod.Spec.EnableServiceLinks != nil {
		return pod
	}
	p := *pod
	p.Spec.EnableServiceLinks = links
	return &p
}

// envSources adapts the Manager's sources to the env builder.
type envSources struct{ src sources }

func (s envSources) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return s.src.configMap(ctx, ns, name)
}

func (s envSources) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return s.src.secret(ctx, ns, name)
}

// VolumePath is the host directory of the pod's volume name (podDir is the
// pod's directory): what a fileKeyRef reads its env file from. False for
// an unknown volume or a type with no directory berth serves.
func VolumePath(pod *corev1.Pod, podDir, name string) (string, bool) {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Name != name {
			continue
		}
		if v.HostPath != nil {
			return filepath.Clean(v.HostPath.Path), true
		}
		dir := volumeDir(podDir, v)
		return dir, dir != ""
	}
	return "", false
}
