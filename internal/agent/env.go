package agent

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/agent/expansion"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// containerEnv builds a container's environment: envFrom, then env (which
// wins), with $(VAR) references expanded against what came before.
// Service link variables and the full downward API belong to the
// environment work (internal/agent/envvars); this covers the common
// sources.
func (a *Agent) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIP string) ([]*runtimeapi.KeyValue, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	core := a.cfg.Client.CoreV1()
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := core.ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				set(from.Prefix+k, v)
			}
		case from.SecretRef != nil:
			s, err := core.Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			for k, v := range s.Data {
				set(from.Prefix+k, string(v))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expansion.Expand(e.Value, func(k string) (string, bool) { v, ok := vals[k]; return v, ok }))
			continue
		}
		v, ok, err := a.envSource(ctx, pod, c, e.ValueFrom, podIP)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]*runtimeapi.KeyValue, 0, len(order))
	for _, k := range order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(vals[k])})
	}
	return out, nil
}

func optional(b *bool) bool { return b != nil && *b }

func (a *Agent) envSource(ctx context.Context, pod *corev1.Pod, c *corev1.Container, src *corev1.EnvVarSource, podIP string) (string, bool, error) {
	core := a.cfg.Client.CoreV1()
	switch {
	case src.FieldRef != nil:
		switch p := src.FieldRef.FieldPath; {
		case p == "metadata.name":
			return pod.Name, true, nil
		case p == "metadata.namespace":
			return pod.Namespace, true, nil
		case p == "metadata.uid":
			return string(pod.UID), true, nil
		case p == "spec.nodeName":
			return pod.Spec.NodeName, true, nil
		case p == "spec.serviceAccountName":
			return pod.Spec.ServiceAccountName, true, nil
		case p == "status.podIP":
			return podIP, true, nil
		case p == "status.podIPs":
			return podIP, true, nil
		case p == "status.hostIP", p == "status.hostIPs":
			return a.nodeIP, true, nil
		case strings.HasPrefix(p, "metadata.labels['"):
			return pod.Labels[strings.TrimSuffix(strings.TrimPrefix(p, "metadata.labels['"), "']")], true, nil
		case strings.HasPrefix(p, "metadata.annotations['"):
			return pod.Annotations[strings.TrimSuffix(strings.TrimPrefix(p, "metadata.annotations['"), "']")], true, nil
		}
		return "", false, fmt.Errorf("unsupported fieldRef %q", src.FieldRef.FieldPath)
	case src.ConfigMapKeyRef != nil:
		r := src.ConfigMapKeyRef
		cm, err := core.ConfigMaps(pod.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			if optional(r.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", r.Name)
		}
		v, ok := cm.Data[r.Key]
		if !ok {
			if optional(r.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", r.Key, pod.Namespace, r.Name)
		}
		return v, true, nil
	case src.SecretKeyRef != nil:
		r := src.SecretKeyRef
		s, err := core.Secrets(pod.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			if optional(r.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", r.Name)
		}
		v, ok := s.Data[r.Key]
		if !ok {
			if optional(r.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", r.Key, pod.Namespace, r.Name)
		}
		return string(v), true, nil
	case src.ResourceFieldRef != nil:
		return resourceField(c, src.ResourceFieldRef), true, nil
	}
	return "", false, nil
}

func resourceField(c *corev1.Container, ref *corev1.ResourceFieldSelector) string {
	var q = c.Resources.Limits
	name := ref.Resource
	if strings.HasPrefix(name, "requests.") {
		q = c.Resources.Requests
	}
	name = name[strings.Index(name, ".")+1:]
	v, ok := q[corev1.ResourceName(name)]
	if !ok {
		return "0"
	}
	div := ref.Divisor
	if div.IsZero() {
		if name == "cpu" {
			return fmt.Sprint((v.MilliValue() + 999) / 1000)
		}
		return fmt.Sprint(v.Value())
	}
	if name == "cpu" {
		return fmt.Sprint((v.MilliValue() + div.MilliValue() - 1) / div.MilliValue())
	}
	return fmt.Sprint((v.Value() + div.Value() - 1) / div.Value())
}

func expandAll(in []string, env []*runtimeapi.KeyValue) []string {
	if in == nil {
		return nil
	}
	m := map[string]string{}
	for _, kv := range env {
		m[kv.Key] = string(kv.Value)
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expansion.Expand(s, func(k string) (string, bool) { v, ok := m[k]; return v, ok })
	}
	return out
}
