package agent

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// sandboxConfig builds the CRI sandbox config of a pod (hostname, DNS,
// ports, cgroup parent, namespaces).
func (a *Agent) sandboxConfig(pod *corev1.Pod, attempt int) (*runtimeapi.PodSandboxConfig, error) {
	hostname, _, err := podHostname(pod)
	if err != nil {
		return nil, err
	}
	logDir := filepath.Join(a.podDir(pod), "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: uint32(attempt)},
		Hostname:     hostname,
		LogDirectory: logDir,
		DnsConfig:    a.dnsConfig(pod),
		Labels:       podLabels(pod),
		Annotations:  pod.Annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/berth/pod" + string(pod.UID),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: namespaceOptions(pod),
				Privileged:       anyPrivileged(pod),
			},
		},
	}
	if err := sandboxSecurity(pod, cfg.Linux); err != nil {
		return nil, err
	}
	if pod.Spec.HostNetwork {
		cfg.Hostname = ""
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{Protocol: proto,
				ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
		}
	}
	return cfg, nil
}

func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostPID {
		ns.Pid = runtimeapi.NamespaceMode_NODE
	} else if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	return ns
}

func anyPrivileged(pod *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			return true
		}
	}
	return false
}

// podHostname returns the pod's hostname and domain as the kubelet
// computes them: spec.hostname or the pod name (truncated to 63), and
// <subdomain>.<namespace>.svc.cluster.local when spec.subdomain is set.
func podHostname(pod *corev1.Pod) (string, string, error) {
	hostname, domain, err := podHostnameDomain(pod)
	if err != nil {
		return "", "", err
	}
	if pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN && domain != "" {
		fqdn := hostname + "." + domain
		if len(fqdn) > 64 {
			return "", "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (64 characters is the max, %d characters requested)", fqdn, len(fqdn))
		}
		return fqdn, domain, nil
	}
	return hostname, domain, nil
}

// podHostnameDomain is the kubelet's GeneratePodHostNameAndDomain.
func podHostnameDomain(pod *corev1.Pod) (string, string, error) {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		if msgs := validation.IsDNS1123Label(pod.Spec.Hostname); len(msgs) > 0 {
			return "", "", fmt.Errorf("pod Hostname %q is not a valid DNS label: %s", pod.Spec.Hostname, strings.Join(msgs, ";"))
		}
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	domain := ""
	if pod.Spec.Subdomain != "" {
		domain = pod.Spec.Subdomain + "." + pod.Namespace + ".svc.cluster.local"
	}
	return hostname, domain, nil
}

// containerHash identifies a container spec: a changed spec starts a new
// crash-loop back-off.
func containerHash(c *corev1.Container) string {
	h := fnv.New32a()
	h.Write([]byte(dump.ForHash(*c)))
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// containerConfig builds the CRI container config.
func (a *Agent) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, imageRef string, attempt int, podIP string, init bool) (*runtimeapi.ContainerConfig, error) {
	img, err := a.imageConfigOf(ctx, imageRef)
	if err != nil {
		return nil, err
	}
	env, err := a.containerEnv(ctx, pod, c, podIP, img.env)
	if err != nil {
		return nil, err
	}
	a.rememberSecrets(pod.UID, c.Name, env.SecretValues())
	mounts, termPath, err := a.containerMounts(ctx, pod, c, podIP, attempt, env.Map())
	if err != nil {
		return nil, err
	}
	uid, username := img.uid, img.username
	if err := verifyRunAsNonRoot(pod, c, uid, username); err != nil {
		return nil, err
	}
	linux := a.linuxContainerConfig(pod, c)
	if linux.SecurityContext, err = a.containerSecurityContext(pod, c, uid, username); err != nil {
		return nil, err
	}
	command, args := env.Expand(c.Command), env.Expand(c.Args)
	if err := env.CheckExec(c.Name, append(slices.Clone(command), args...), execLimit()); err != nil {
		return nil, err
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(attempt)},
		Image:      &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: c.Image},
		Command:    command,
		Args:       args,
		WorkingDir: c.WorkingDir,
		Envs:       env.KeyValues(),
		Mounts:     mounts,
		Labels:     containerLabels(pod, c.Name),
		Annotations: map[string]string{
			annoRestartCount: strconv.Itoa(attempt), annoContainerHash: containerHash(c),
			annoTerminationPath: c.TerminationMessagePath, annoTerminationPolicy: string(c.TerminationMessagePolicy),
			annoTerminationHostPath: termPath, annoInitContainer: strconv.FormatBool(init),
		},
		LogPath:   filepath.Join(c.Name, strconv.Itoa(attempt)+".log"),
		Stdin:     c.Stdin,
		StdinOnce: c.StdinOnce,
		Tty:       c.TTY,
		Linux:     linux,
	}
	for k, v := range killAnnotations(pod, c) {
		cfg.Annotations[k] = v
	}
	if err := a.targetNamespaces(ctx, pod, c, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (a *Agent) linuxContainerConfig(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerConfig {
	res := &runtimeapi.LinuxContainerResources{}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		shares := q.MilliValue() * 1024 / 1000
		if shares < 2 {
			shares = 2
		}
		res.CpuShares = shares
	} else {
		res.CpuShares = 2
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && !q.IsZero() {
		res.CpuPeriod = 100000
		res.CpuQuota = q.MilliValue() * 100000 / 1000
		if res.CpuQuota < 1000 {
			res.CpuQuota = 1000
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		res.MemoryLimitInBytes = q.Value()
	}
	// This machine cannot lower OOM scores below 0 (no CAP_SYS_RESOURCE),
	// so berth never asks for negative scores: Guaranteed pods get 0
	// where the kubelet would ask for -997.
	switch pod.Status.QOSClass {
	case corev1.PodQOSBestEffort:
		res.OomScoreAdj = 1000
	case corev1.PodQOSBurstable:
		res.OomScoreAdj = 500
	default:
		res.OomScoreAdj = 0
	}
	return &runtimeapi.LinuxContainerConfig{Resources: res}
}
