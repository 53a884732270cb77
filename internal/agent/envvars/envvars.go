package envvars

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/agent/expansion"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Kind is where a variable came from.
type Kind string

const (
	KindImage            Kind = "image"   // the image's ENV (merged by the runtime)
	KindService          Kind = "service" // a Service's docker-link variable
	KindEnvFromConfigMap Kind = "envFrom.configMapRef"
	KindEnvFromSecret    Kind = "envFrom.secretRef"
	KindValue            Kind = "env.value"
	KindFieldRef         Kind = "env.fieldRef"
	KindResourceFieldRef Kind = "env.resourceFieldRef"
	KindConfigMapKeyRef  Kind = "env.configMapKeyRef"
	KindSecretKeyRef     Kind = "env.secretKeyRef"
	KindFileKeyRef       Kind = "env.fileKeyRef"
)

// Origin says where one variable's value came from.
type Origin struct {
	Kind Kind `json:"kind"`
	// Index is the position in env or envFrom.
	Index int `json:"index"`
	// Name is the Service ("namespace/name"), ConfigMap or Secret name, or
	// the volume of a fileKeyRef.
	Name string `json:"name,omitempty"`
	// Key is the ConfigMap/Secret key, the fieldPath, the resource
	// ("limits.cpu"), or the key in an env file.
	Key string `json:"key,omitempty"`
	// Prefix is the envFrom prefix.
	Prefix string `json:"prefix,omitempty"`
	// Container is a resourceFieldRef's containerName (when set), Divisor
	// its divisor; Path is a fileKeyRef's file inside the volume.
	Container string `json:"container,omitempty"`
	Divisor   string `json:"divisor,omitempty"`
	Path      string `json:"path,omitempty"`
	// Template is an env value before expansion, Expanded the $(…)
	// references it resolved and Literal those it kept as written.
	Template string   `json:"template,omitempty"`
	Expanded []string `json:"expanded,omitempty"`
	Literal  []string `json:"literal,omitempty"`
	// Overrides lists the earlier sources this variable replaced.
	Overrides []string `json:"overrides,omitempty"`
}

// Var is one variable with its origin. Secret is true when the value came
// from a Secret, directly or through $(…) expansion: it must never be
// written down or logged.
type Var struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Secret bool   `json:"secret,omitempty"`
	Origin Origin `json:"origin"`
}

// Sources reads ConfigMaps and Secrets of the pod's namespace. Errors keep
// the API's type (apierrors.IsNotFound must work on them).
type Sources interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// Input is everything the environment depends on.
type Input struct {
	Pod       *corev1.Pod
	Container *corev1.Container
	// PodIPs are the pod's IPs, primary family first; the node's IPs for a
	// hostNetwork pod (NodeIPs is used when PodIPs is empty then).
	PodIPs []string
	// NodeIPs are the node's IPs (status.hostIP(s)), primary first.
	NodeIPs []string
	// Services is every Service the agent knows (all namespaces); only
	// those the kubelet would use are taken. ServicesSynced says the list
	// has been read at least once.
	Services       []*corev1.Service
	ServicesSynced bool
	// Allocatable is the node's allocatable resources; nil means the node
	// is unknown (an error only for a resourceFieldRef).
	Allocatable corev1.ResourceList
	Sources     Sources
	// VolumePath returns the host directory of a pod volume, for
	// fileKeyRef; nil or false: the volume is unknown.
	VolumePath func(volumeName string) (string, bool)
	// ImageEnv is the image's ENV ("K=V"), only recorded: the runtime
	// merges it under the pod's variables.
	ImageEnv []string
}

// Env is a built environment.
type Env struct {
	// Vars are the variables the container gets, in the order given to
	// the runtime: envFrom and env (in the order last set), then service
	// variables (sorted by Service, then Kubernetes' order). Image ENV is
	// not among them.
	Vars []Var
	// Image are the image's ENV entries the pod did not override.
	Image []Var
}

// Map is the environment as the kubelet's expansion sees it (command,
// args, subPathExpr): the pod's variables, not the image's.
func (e *Env) Map() map[string]string {
	m := make(map[string]string, len(e.Vars))
	for _, v := range e.Vars {
		m[v.Name] = v.Value
	}
	return m
}

// KeyValues is the CRI form of Vars.
func (e *Env) KeyValues() []*runtimeapi.KeyValue {
	out := make([]*runtimeapi.KeyValue, 0, len(e.Vars))
	for _, v := range e.Vars {
		out = append(out, &runtimeapi.KeyValue{Key: v.Name, Value: []byte(v.Value)})
	}
	return out
}

// Expand expands $(VAR) in each string against the environment (the
// kubelet's ExpandContainerCommandAndArgs); nil stays nil.
func (e *Env) Expand(in []string) []string {
	if in == nil {
		return nil
	}
	m := e.Map()
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expansion.Expand(s, lookup(m))
	}
	return out
}

// SubPath expands a volumeMount's subPathExpr (the kubelet's
// ExpandContainerVolumeMounts): an undefined or empty variable is an error.
func (e *Env) SubPath(expr string) (string, error) {
	return ExpandSubPath(expr, e.Map())
}

// ExpandSubPath is SubPath over a plain map.
func ExpandSubPath(expr string, env map[string]string) (string, error) {
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

// ExpandStatic is the kubelet's ExpandContainerCommandOnlyStatic, used for
// exec probes: references resolve only against env entries' literal
// values (valueFrom entries count as empty), unexpanded.
func ExpandStatic(cmd []string, env []corev1.EnvVar) []string {
	if len(cmd) == 0 {
		return nil
	}
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	out := make([]string, len(cmd))
	for i, s := range cmd {
		out[i] = expansion.Expand(s, lookup(m))
	}
	return out
}

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// ErrServicesNotSynced is the kubelet's precondition on its Service
// informer.
var ErrServicesNotSynced = errors.New("services have not yet been read at least once, cannot construct envvars")

// Build is the kubelet's makeEnvironmentVariables. Its errors are the
// kubelet's texts: the container waits with CreateContainerConfigError.
func Build(ctx context.Context, in Input) (*Env, error) {
	pod, c := in.Pod, in.Container
	if pod.Spec.EnableServiceLinks == nil {
		return nil, errors.New("nil pod.spec.enableServiceLinks encountered, cannot construct envvars")
	}
	if !in.ServicesSynced {
		return nil, ErrServicesNotSynced
	}
	services := ServiceVars(in.Services, pod.Namespace, *pod.Spec.EnableServiceLinks)
	serviceEnv := make(map[string]string, len(services))
	for _, v := range services {
		serviceEnv[v.Name] = v.Value
	}

	b := &builder{in: in, vars: map[string]*Var{}, cms: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for i, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := b.configMap(ctx, from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			for _, k := range sortedKeys(cm.Data) {
				b.set(Var{Name: from.Prefix + k, Value: cm.Data[k], Origin: Origin{Kind: KindEnvFromConfigMap, Index: i, Name: cm.Name, Key: k, Prefix: from.Prefix}})
			}
		case from.SecretRef != nil:
			s, err := b.secret(ctx, from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			for _, k := range sortedKeys(s.Data) {
				b.set(Var{Name: from.Prefix + k, Value: string(s.Data[k]), Secret: true, Origin: Origin{Kind: KindEnvFromSecret, Index: i, Name: s.Name, Key: k, Prefix: from.Prefix}})
			}
		}
	}
	for i := range c.Env {
		e := &c.Env[i]
		v := Var{Name: e.Name, Origin: Origin{Kind: KindValue, Index: i}}
		switch {
		case e.Value != "":
			v.Origin.Template = e.Value
			v.Value = expansion.Expand(e.Value, func(name string) (string, bool) {
				if ref, ok := b.vars[name]; ok {
					v.Origin.Expanded = appendOnce(v.Origin.Expanded, name)
					v.Secret = v.Secret || ref.Secret
					return ref.Value, true
				}
				if val, ok := serviceEnv[name]; ok {
					v.Origin.Expanded = appendOnce(v.Origin.Expanded, name)
					return val, true
				}
				v.Origin.Literal = appendOnce(v.Origin.Literal, name)
				return "", false
			})
		case e.ValueFrom != nil:
			ok, err := b.valueFrom(ctx, &v, e.ValueFrom)
			if err != nil {
				return nil, err
			}
			if !ok { // an optional source that is missing: not set at all
				continue
			}
		}
		b.set(v)
	}

	env := &Env{Vars: make([]Var, 0, len(b.order)+len(services))}
	for _, name := range b.order {
		env.Vars = append(env.Vars, *b.vars[name])
	}
	for _, sv := range services {
		if ov, ok := b.vars[sv.Name]; ok {
			i := slices.IndexFunc(env.Vars, func(v Var) bool { return v.Name == ov.Name })
			env.Vars[i].Origin.Overrides = append(env.Vars[i].Origin.Overrides, describe(sv.Origin))
			continue
		}
		env.Vars = append(env.Vars, sv)
	}
	podNames := make(map[string]int, len(env.Vars))
	for i, v := range env.Vars {
		podNames[v.Name] = i
	}
	for _, kv := range in.ImageEnv {
		name, value, _ := strings.Cut(kv, "=")
		iv := Var{Name: name, Value: value, Origin: Origin{Kind: KindImage}}
		if i, ok := podNames[name]; ok {
			env.Vars[i].Origin.Overrides = append(env.Vars[i].Origin.Overrides, describe(iv.Origin))
			continue
		}
		env.Image = append(env.Image, iv)
	}
	return env, nil
}

type builder struct {
	in      Input
	vars    map[string]*Var
	order   []string
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

// set records v, replacing (and noting) an earlier variable of that name;
// the variable moves to the end, where it was last set.
func (b *builder) set(v Var) {
	if old, ok := b.vars[v.Name]; ok {
		v.Origin.Overrides = append(slices.Clone(old.Origin.Overrides), describe(old.Origin))
		b.order = slices.DeleteFunc(b.order, func(n string) bool { return n == v.Name })
	}
	b.vars[v.Name] = &v
	b.order = append(b.order, v.Name)
}

// configMap and secret fetch each object once per build, as the kubelet.
func (b *builder) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if cm, ok := b.cms[name]; ok {
		return cm, nil
	}
	if b.in.Sources == nil {
		return nil, fmt.Errorf("couldn't get configMap %v/%v, no kubeClient defined", b.in.Pod.Namespace, name)
	}
	cm, err := b.in.Sources.ConfigMap(ctx, b.in.Pod.Namespace, name)
	if err != nil {
		return nil, err
	}
	b.cms[name] = cm
	return cm, nil
}

func (b *builder) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if s, ok := b.secrets[name]; ok {
		return s, nil
	}
	if b.in.Sources == nil {
		return nil, fmt.Errorf("couldn't get secret %v/%v, no kubeClient defined", b.in.Pod.Namespace, name)
	}
	s, err := b.in.Sources.Secret(ctx, b.in.Pod.Namespace, name)
	if err != nil {
		return nil, err
	}
	b.secrets[name] = s
	return s, nil
}

// valueFrom resolves one env source into v; false: an optional source is
// missing and the variable is not set.
func (b *builder) valueFrom(ctx context.Context, v *Var, src *corev1.EnvVarSource) (bool, error) {
	pod := b.in.Pod
	switch {
	case src.FieldRef != nil:
		v.Origin.Kind, v.Origin.Key = KindFieldRef, src.FieldRef.FieldPath
		val, err := fieldValue(pod, src.FieldRef, b.podIPs(), b.in.NodeIPs)
		v.Value = val
		return err == nil, err
	case src.ResourceFieldRef != nil:
		r := src.ResourceFieldRef
		v.Origin.Kind, v.Origin.Key, v.Origin.Container = KindResourceFieldRef, r.Resource, r.ContainerName
		if !r.Divisor.IsZero() {
			v.Origin.Divisor = r.Divisor.String()
		}
		val, err := resourceValue(pod, b.in.Container, r, b.in.Allocatable)
		v.Value = val
		return err == nil, err
	case src.ConfigMapKeyRef != nil:
		r := src.ConfigMapKeyRef
		v.Origin.Kind, v.Origin.Name, v.Origin.Key = KindConfigMapKeyRef, r.Name, r.Key
		cm, err := b.configMap(ctx, r.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(r.Optional) {
				return false, nil
			}
			return false, err
		}
		val, ok := cm.Data[r.Key]
		if !ok {
			if isTrue(r.Optional) {
				return false, nil
			}
			return false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", r.Key, pod.Namespace, r.Name)
		}
		v.Value = val
		return true, nil
	case src.SecretKeyRef != nil:
		r := src.SecretKeyRef
		v.Origin.Kind, v.Origin.Name, v.Origin.Key = KindSecretKeyRef, r.Name, r.Key
		v.Secret = true
		s, err := b.secret(ctx, r.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(r.Optional) {
				return false, nil
			}
			return false, err
		}
		val, ok := s.Data[r.Key]
		if !ok {
			if isTrue(r.Optional) {
				return false, nil
			}
			return false, fmt.Errorf("couldn't find key %v in Secret %v/%v", r.Key, pod.Namespace, r.Name)
		}
		v.Value = string(val)
		return true, nil
	case src.FileKeyRef != nil:
		r := src.FileKeyRef
		v.Origin.Kind, v.Origin.Name, v.Origin.Path, v.Origin.Key = KindFileKeyRef, r.VolumeName, r.Path, r.Key
		val, file, err := b.fileKey(r)
		if err != nil {
			return false, err
		}
		if val == "" { // an empty value counts as missing, as in the kubelet
			if isTrue(r.Optional) {
				return false, nil
			}
			return false, fmt.Errorf("environment variable key %q not found in file %q", r.Key, file)
		}
		v.Value = val
		return true, nil
	}
	return true, nil // an empty source: the variable is set, empty
}

// podIPs are the IPs status.podIP(s) show: the node's for hostNetwork.
func (b *builder) podIPs() []string {
	if len(b.in.PodIPs) == 0 && b.in.Pod.Spec.HostNetwork {
		return b.in.NodeIPs
	}
	return b.in.PodIPs
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// describe is a short text for an overridden source.
func describe(o Origin) string {
	switch o.Kind {
	case KindImage:
		return "image ENV"
	case KindService:
		return "service link of " + o.Name
	case KindEnvFromConfigMap, KindEnvFromSecret:
		kind := "configMap"
		if o.Kind == KindEnvFromSecret {
			kind = "secret"
		}
		s := fmt.Sprintf("envFrom[%d] %s %s", o.Index, kind, o.Name)
		if o.Prefix != "" {
			s += fmt.Sprintf(" (prefix %q)", o.Prefix)
		}
		return s
	}
	return fmt.Sprintf("env[%d]", o.Index)
}

// SecretValues are the values that came from Secrets, for masking what a
// hook prints.
func (e *Env) SecretValues() []string {
	var out []string
	for _, v := range e.Vars {
		if v.Secret && v.Value != "" {
			out = append(out, v.Value)
		}
	}
	return out
}
