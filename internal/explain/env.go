package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/internal/agent/envvars"
	"github.com/berth-dev/berth/internal/agent/expansion"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EnvOptions select what `berth explain env` shows.
type EnvOptions struct {
	Options
	// ShowSecrets reads values that came from Secrets from the API (the
	// node never records them); otherwise they are masked.
	ShowSecrets bool
}

// maxValue is how much of a value a line shows.
const maxValue = 60

// Env lists, per container, every variable the container was given at
// its last start, in order, with its value and where it came from: image
// ENV, a Service's link, envFrom (which configMap or secret, which
// prefix), env[i] with the $(…) references it expanded or left literal, a
// fieldRef, a resourceFieldRef or a fileKeyRef. It reads the node's
// record through the API server (falling back to a local data dir).
func (e *Explainer) Env(ctx context.Context, o EnvOptions) error {
	pod, err := e.Client.CoreV1().Pods(o.Namespace).Get(ctx, o.Pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading pod %s/%s: %w", o.Namespace, o.Pod, err)
	}
	w := e.Out
	fprintf(w, "Pod %s/%s (node %s)\n", pod.Namespace, pod.Name, orNone(pod.Spec.NodeName))
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	if links {
		fprintf(w, "Service links: on (every Service of namespace %q that existed when a container was created, plus default/kubernetes)\n", pod.Namespace)
	} else {
		fprintf(w, "Service links: off (enableServiceLinks: false): only default/kubernetes\n")
	}
	found := false
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if o.Container != "" && c.Name != o.Container {
			continue
		}
		found = true
		fprintf(w, "\nContainer %q\n", c.Name)
		e.envContainer(ctx, pod, &c, o)
	}
	if !found {
		return fmt.Errorf("container %q is not in pod %s/%s", o.Container, pod.Namespace, pod.Name)
	}
	return nil
}

func (e *Explainer) envContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, o EnvOptions) {
	w := e.Out
	rec, from := e.envRecord(ctx, pod, c.Name, o.DataDir)
	if rec == nil {
		fprintf(w, "  No record: the node has not built this container's environment yet.\n")
		if st := containerStatus(pod, c.Name); st != nil && st.State.Waiting != nil && st.State.Waiting.Reason == "CreateContainerConfigError" {
			fprintf(w, "  It waits with CreateContainerConfigError: %s\n", st.State.Waiting.Message)
		}
		return
	}
	fprintf(w, "  As given at its last start (%s, %s ago); image ENV as the image sets it, which the runtime merges under the rest.\n",
		from, time.Since(rec.Time).Truncate(time.Second))
	secrets := map[string]string{}
	if o.ShowSecrets {
		secrets = e.revealSecrets(ctx, pod, c, rec)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintf(tw, "  NAME\tVALUE\tORIGIN\n")
	size := 0
	for _, v := range rec.Vars {
		value := v.Value
		if v.Secret {
			if s, ok := secrets[v.Name]; ok {
				value = s
			} else {
				value = "(secret, hidden: --show-secrets)"
			}
		}
		size += len(v.Name) + len(v.Value) + 10
		fprintf(tw, "  %s\t%s\t%s\n", v.Name, shorten(value, v.Secret && !o.ShowSecrets), origin(v, c))
	}
	_ = tw.Flush()
	fprintf(w, "  %d variables (%d from service links), about %d bytes with the pointers exec counts; exec accepts %d bytes in all with the default 8 MiB stack.\n",
		len(rec.Vars), countKind(rec.Vars, envvars.KindService), size, 2<<20)
}

// envRecord fetches the node's env record of a container: through the API
// server's node proxy first, then from a local data dir.
func (e *Explainer) envRecord(ctx context.Context, pod *corev1.Pod, container, dataDir string) (*envvars.Record, string) {
	if pod.Spec.NodeName != "" {
		raw, err := e.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", pod.Spec.NodeName, "proxy",
			"berth/envrecords", string(pod.UID), container).DoRaw(ctx)
		if err == nil {
			var r envvars.Record
			if json.Unmarshal(raw, &r) == nil && r.UID == string(pod.UID) {
				return &r, "node " + pod.Spec.NodeName
			}
		}
	}
	if dataDir != "" {
		if r, err := envvars.LoadRecord(filepath.Join(dataDir, "agent"), string(pod.UID), container); err == nil {
			return r, "local data dir " + dataDir
		}
	}
	return nil, ""
}

// revealSecrets reads, for --show-secrets, the values the record leaves
// out: from the Secrets themselves, and for env values that expanded a
// secret variable, by expanding them again.
func (e *Explainer) revealSecrets(ctx context.Context, pod *corev1.Pod, c *corev1.Container, rec *envvars.Record) map[string]string {
	cache := map[string]*corev1.Secret{}
	get := func(name string) *corev1.Secret {
		if s, ok := cache[name]; ok {
			return s
		}
		s, err := e.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			fprintf(e.Out, "  ! cannot read secret %q: %v\n", name, err)
			s = nil
		}
		cache[name] = s
		return s
	}
	values := map[string]string{}
	for _, v := range rec.Vars {
		values[v.Name] = v.Value
	}
	out := map[string]string{}
	for _, v := range rec.Vars {
		switch {
		case !v.Secret:
			continue
		case v.Origin.Kind == envvars.KindEnvFromSecret || v.Origin.Kind == envvars.KindSecretKeyRef:
			if s := get(v.Origin.Name); s != nil {
				if b, ok := s.Data[v.Origin.Key]; ok {
					out[v.Name], values[v.Name] = string(b), string(b)
				}
			}
		case v.Origin.Template != "":
			val := expansion.Expand(v.Origin.Template, func(n string) (string, bool) { s, ok := values[n]; return s, ok })
			out[v.Name], values[v.Name] = val, val
		}
	}
	return out
}

// origin says, for people, where a variable came from.
func origin(v envvars.Var, c *corev1.Container) string {
	o := v.Origin
	var s string
	switch o.Kind {
	case envvars.KindImage:
		s = "image ENV"
	case envvars.KindService:
		s = "service link of Service " + o.Name
	case envvars.KindEnvFromConfigMap, envvars.KindEnvFromSecret:
		kind := "configMap"
		if o.Kind == envvars.KindEnvFromSecret {
			kind = "secret"
		}
		s = fmt.Sprintf("envFrom[%d] %s %q key %q", o.Index, kind, o.Name, o.Key)
		if o.Prefix != "" {
			s += fmt.Sprintf(" with prefix %q", o.Prefix)
		}
	case envvars.KindValue:
		s = fmt.Sprintf("env[%d] value", o.Index)
		if o.Template != "" && (len(o.Expanded) > 0 || len(o.Literal) > 0 || strings.Contains(o.Template, "$$")) {
			s += fmt.Sprintf(" %q", o.Template)
		}
		if len(o.Expanded) > 0 {
			s += "; expanded " + refs(o.Expanded)
		}
		for _, name := range o.Literal {
			s += fmt.Sprintf("; $(%s) left as written (%s)", name, literalWhy(name, o.Index, c))
		}
		if strings.Contains(o.Template, "$$") {
			s += "; $$ is an escaped $"
		}
	case envvars.KindFieldRef:
		s = fmt.Sprintf("env[%d] fieldRef %s", o.Index, o.Key)
	case envvars.KindResourceFieldRef:
		s = fmt.Sprintf("env[%d] resourceFieldRef %s", o.Index, o.Key)
		if o.Container != "" {
			s += " of container " + o.Container
		}
		if o.Divisor != "" {
			s += ", divisor " + o.Divisor
		}
	case envvars.KindConfigMapKeyRef:
		s = fmt.Sprintf("env[%d] configMapKeyRef %q key %q", o.Index, o.Name, o.Key)
	case envvars.KindSecretKeyRef:
		s = fmt.Sprintf("env[%d] secretKeyRef %q key %q", o.Index, o.Name, o.Key)
	case envvars.KindFileKeyRef:
		s = fmt.Sprintf("env[%d] fileKeyRef %q in volume %q, key %q", o.Index, o.Path, o.Name, o.Key)
	default:
		s = string(o.Kind)
	}
	if v.Secret && o.Kind == envvars.KindValue {
		s += "; holds a secret's value"
	}
	if len(o.Overrides) > 0 {
		s += "; overrides " + strings.Join(o.Overrides, ", ")
	}
	return s
}

// literalWhy explains an unresolved $(NAME): defined later in env, or
// nowhere before it.
func literalWhy(name string, index int, c *corev1.Container) string {
	for i, e := range c.Env {
		if e.Name == name && i > index {
			return fmt.Sprintf("defined later, in env[%d]: a reference sees only what comes before it", i)
		}
	}
	return "not defined before it"
}

func refs(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "$(" + n + ")"
	}
	return strings.Join(out, ", ")
}

// shorten keeps a table line readable: control characters quoted, long
// values cut.
func shorten(v string, masked bool) string {
	if masked {
		return v
	}
	if strings.ContainsAny(v, "\n\r\t") || v == "" {
		v = fmt.Sprintf("%q", v)
	}
	if len(v) > maxValue {
		return fmt.Sprintf("%s… (%d bytes)", v[:maxValue], len(v))
	}
	return v
}

func countKind(vars []envvars.Var, k envvars.Kind) int {
	n := 0
	for _, v := range vars {
		if v.Origin.Kind == k {
			n++
		}
	}
	return n
}
