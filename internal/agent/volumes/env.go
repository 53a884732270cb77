package volumes

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/agent/expansion"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// expandSubPathExpr is kubecontainer.ExpandContainerVolumeMounts: $(VAR)
// references are replaced with the container's environment, and a
// variable that is undefined or empty is an error.
func expandSubPathExpr(expr string, env map[string]string) (string, error) {
	missing := map[string]bool{}
	out := expansion.Expand(expr, func(name string) (string, bool) {
		v, ok := env[name]
		if !ok || v == "" {
			missing[name] = true
		}
		return v, true
	})
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", fmt.Errorf("missing value for %s", strings.Join(names, ", "))
	}
	return out, nil
}

// containerEnv is the part of the container's environment that
// subPathExpr can use: envFrom, then env (literal values expanded against
// the earlier ones, fieldRef, resourceFieldRef, configMapKeyRef,
// secretKeyRef). Service links are not included. The agent builds the full
// environment, and reports its errors, before it asks for mounts.
func containerEnv(ctx context.Context, src sources, pod *corev1.Pod, c *corev1.Container, alloc corev1.ResourceList) (map[string]string, error) {
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := src.configMap(ctx, pod.Namespace, ef.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isOptional(ef.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			for k, v := range cm.Data {
				env[ef.Prefix+k] = v
			}
		case ef.SecretRef != nil:
			s, err := src.secret(ctx, pod.Namespace, ef.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isOptional(ef.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			for k, v := range s.Data {
				env[ef.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expansion.Expand(e.Value, func(n string) (string, bool) { v, ok := env[n]; return v, ok })
			continue
		}
		v, ok, err := envValueFrom(ctx, src, pod, c, e.ValueFrom, alloc)
		if err != nil {
			return nil, err
		}
		if ok {
			env[e.Name] = v
		}
	}
	return env, nil
}

func envValueFrom(ctx context.Context, src sources, pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, alloc corev1.ResourceList) (string, bool, error) {
	switch {
	case from.FieldRef != nil:
		v, err := envFieldValue(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		name := from.ResourceFieldRef.ContainerName
		if name == "" {
			name = c.Name
		}
		v, err := resourceFieldValue(pod, from.ResourceFieldRef, name, alloc)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		r := from.ConfigMapKeyRef
		cm, err := src.configMap(ctx, pod.Namespace, r.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isOptional(r.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := cm.Data[r.Key]
		if !ok && !isOptional(r.Optional) {
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", r.Key, pod.Namespace, r.Name)
		}
		return v, ok, nil
	case from.SecretKeyRef != nil:
		r := from.SecretKeyRef
		s, err := src.secret(ctx, pod.Namespace, r.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isOptional(r.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := s.Data[r.Key]
		if !ok && !isOptional(r.Optional) {
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", r.Key, pod.Namespace, r.Name)
		}
		return string(v), ok, nil
	}
	return "", false, nil
}

// envFieldValue is the kubelet's podFieldSelectorRuntimeValue, from the
// pod object (its status as last seen).
func envFieldValue(pod *corev1.Pod, fieldPath string) (string, error) {
	switch fieldPath {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		return joinIPs(pod.Status.HostIPs), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, len(pod.Status.PodIPs))
		for i, ip := range pod.Status.PodIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	}
	return volumeFieldValue(pod, fieldPath)
}

func joinIPs(ips []corev1.HostIP) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.IP
	}
	return strings.Join(s, ",")
}
