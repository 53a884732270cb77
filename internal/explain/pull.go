package explain

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/agent/images"
	"github.com/berth-dev/berth/internal/imageref"
	"github.com/berth-dev/berth/internal/keyring"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// Pull explains, for each container of a pod, how its image is pulled:
// the normalised reference, the policy and why, the pull secrets and what
// the node makes of them, which registry keys match, what the last pull
// attempts answered, and a verdict.
func (e *Explainer) Pull(ctx context.Context, o Options) error {
	core := e.Client.CoreV1()
	pod, err := core.Pods(o.Namespace).Get(ctx, o.Pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading pod %s/%s: %w", o.Namespace, o.Pod, err)
	}
	var sa *corev1.ServiceAccount
	if pod.Spec.ServiceAccountName != "" {
		sa, _ = core.ServiceAccounts(pod.Namespace).Get(ctx, pod.Spec.ServiceAccountName, metav1.GetOptions{})
	}
	// The secrets as the node sees them: only from the pod's namespace.
	var usable []corev1.Secret
	type secretLine struct{ name, origin, verdict string }
	var lines []secretLine
	origin := "from the pod spec"
	if sa != nil && sameNames(pod.Spec.ImagePullSecrets, sa.ImagePullSecrets) && len(sa.ImagePullSecrets) > 0 {
		origin = fmt.Sprintf("copied from service account %q when the pod was created", sa.Name)
	}
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		s, err := core.Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			v := fmt.Sprintf("IGNORED: not found in namespace %q", pod.Namespace)
			if others := e.namespacesWithSecret(ctx, ref.Name, pod.Namespace); len(others) > 0 {
				v += fmt.Sprintf(" (a secret of that name exists in %s, but the node reads pull secrets only from the pod's own namespace)", strings.Join(others, ", "))
			}
			lines = append(lines, secretLine{ref.Name, origin, v})
			continue
		case err != nil:
			lines = append(lines, secretLine{ref.Name, origin, "IGNORED: cannot be read: " + err.Error()})
			continue
		}
		usable = append(usable, *s)
		lines = append(lines, secretLine{ref.Name, origin, ""})
	}
	kr, uses, krErr := keyring.FromSecrets(usable)
	for i := range lines {
		if lines[i].verdict != "" {
			continue
		}
		for _, u := range uses {
			if u.Secret.Name != lines[i].name {
				continue
			}
			if u.Used {
				lines[i].verdict = "used: registry keys " + quoteList(u.Keys)
			} else {
				lines[i].verdict = "IGNORED: " + u.Reason
			}
		}
	}
	w := e.Out
	fprintf(w, "Pod %s/%s (node %s)\n", pod.Namespace, pod.Name, orNone(pod.Spec.NodeName))
	fprintf(w, "Pull secrets (%d):\n", len(lines))
	if len(lines) == 0 {
		msg := "  none: images are pulled anonymously"
		if sa != nil && len(sa.ImagePullSecrets) > 0 {
			msg += fmt.Sprintf(" (service account %q lists %s now, but a pod gets them only when it is created)", sa.Name, refNames(sa.ImagePullSecrets))
		}
		fprintf(w, "%s\n", msg)
	}
	for _, l := range lines {
		fprintf(w, "  - %s (%s): %s\n", l.name, l.origin, l.verdict)
	}
	if krErr != nil {
		fprintf(w, "  ! the node cannot build a keyring from these secrets, so every pull of this pod fails: %v\n", krErr)
	}
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	found := false
	for _, c := range containers {
		if o.Container != "" && c.Name != o.Container {
			continue
		}
		found = true
		fprintf(w, "\nContainer %q\n", c.Name)
		e.pullContainer(ctx, pod, &c, kr, krErr, o.DataDir)
	}
	if !found {
		return fmt.Errorf("container %q is not in pod %s/%s", o.Container, pod.Namespace, pod.Name)
	}
	return nil
}

func (e *Explainer) pullContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, kr *keyring.Keyring, krErr error, dataDir string) {
	w := e.Out
	ref, err := imageref.Parse(c.Image)
	fprintf(w, "  Image:       %s\n", c.Image)
	if err != nil {
		fprintf(w, "  Normalised:  invalid: %v\n  Verdict:     the image reference does not parse (InvalidImageName); fix the image field.\n", err)
		return
	}
	fprintf(w, "  Normalised:  %s (registry %s, repository %s)\n", ref.String(), ref.Domain, ref.Path)
	fprintf(w, "  Policy:      %s — %s\n", c.ImagePullPolicy, policyWhy(c))
	var matched []keyring.Credential
	if kr != nil {
		matched, _ = kr.Lookup(c.Image)
	}
	if len(matched) == 0 {
		fprintf(w, "  Credentials: no pull secret has a key matching %s: the node pulls anonymously\n", ref.Repository())
	} else {
		fprintf(w, "  Credentials: tried in this order:\n")
		for i, m := range matched {
			fprintf(w, "    %d. %s\n", i+1, m.String())
		}
	}
	rec, from := e.nodeRecord(ctx, pod, c.Name, dataDir)
	if rec != nil {
		fprintf(w, "  Last pull (%s, %s ago): %s\n", from, time.Since(rec.Time).Truncate(time.Second), rec.Decision)
		for i, a := range rec.Attempts {
			who := "anonymous"
			if a.CredentialKey != "" {
				who = fmt.Sprintf("%s (secret %s)", a.CredentialKey, a.Secret)
			}
			line := fmt.Sprintf("    attempt %d, %s: %s", i+1, who, a.Result)
			if a.Class != "" {
				line += " [" + a.Class + "]"
			}
			if a.Error != "" {
				line += ": " + a.Error
			}
			fprintf(w, "%s\n", line)
		}
	}
	status := containerStatus(pod, c.Name)
	events := e.pullEvents(ctx, pod)
	if len(events) > 0 {
		fprintf(w, "  Events:\n")
		for _, ev := range events {
			fprintf(w, "    %s %s: %s\n", ev.Type, ev.Reason, ev.Message)
		}
	}
	fprintf(w, "  Verdict:     %s\n", verdict(c, status, rec, matched, krErr))
}

func verdict(c *corev1.Container, st *corev1.ContainerStatus, rec *images.PullAttempt, matched []keyring.Credential, krErr error) string {
	if krErr != nil {
		return "a pull secret is malformed, so the node refuses to pull for this pod; recreate the secret with kubectl create secret docker-registry."
	}
	if rec != nil && rec.Verdict != "" {
		return rec.Verdict
	}
	if st != nil {
		switch {
		case st.State.Running != nil || st.State.Terminated != nil:
			return "the image was available and the container started."
		case st.State.Waiting != nil:
			switch st.State.Waiting.Reason {
			case "ErrImagePull", "ImagePullBackOff":
				if len(matched) == 0 {
					return "the pull failed and no credential matched this registry: if the image is private, add a docker-registry secret whose server is " + registryOf(c.Image) + " to the pod (or its service account, before creating the pod)."
				}
				return "the pull failed with every matching credential: check the user name and password in the secrets listed above."
			case "ErrImageNeverPull":
				return "the policy is Never and the image is not on the node (or the pod's credentials are not verified for it)."
			case "InvalidImageName":
				return "the image reference is invalid."
			}
		}
	}
	return "no pull has been attempted yet."
}

func registryOf(image string) string {
	if r, err := imageref.Parse(image); err == nil {
		return r.Domain
	}
	return "the image's registry"
}

func policyWhy(c *corev1.Container) string {
	def := imageref.DefaultPullPolicy(c.Image)
	tag := "no tag (so \"latest\")"
	if r, err := imageref.Parse(c.Image); err == nil {
		switch {
		case r.Digest != "" && r.Tag == "":
			tag = "a digest and no tag"
		case r.Tag != "" && !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":"):
			tag = "no tag (so \"latest\")"
		default:
			tag = fmt.Sprintf("the tag %q", r.Tag)
		}
	}
	if c.ImagePullPolicy == def {
		return fmt.Sprintf("the default for an image with %s (or set to the same value in the spec)", tag)
	}
	if c.ImagePullPolicy == corev1.PullAlways {
		return fmt.Sprintf("set in the spec, or forced by the AlwaysPullImages admission plugin (the default for %s would be %s)", tag, def)
	}
	return fmt.Sprintf("set in the spec (the default for %s would be %s)", tag, def)
}

func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, l := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range l {
			if l[i].Name == name {
				return &l[i]
			}
		}
	}
	return nil
}

func (e *Explainer) pullEvents(ctx context.Context, pod *corev1.Pod) []corev1.Event {
	sel := fields.Set{"involvedObject.name": pod.Name, "involvedObject.uid": string(pod.UID)}.AsSelector().String()
	list, err := e.Client.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil
	}
	var out []corev1.Event
	for _, ev := range list.Items {
		switch ev.Reason {
		case "Pulling", "Pulled", "Failed", "BackOff", "ErrImageNeverPull", "InspectFailed", "FailedToRetrieveImagePullSecret":
			if ev.Reason == "Failed" && !strings.Contains(ev.Message, "image") && !strings.HasPrefix(ev.Message, "Error: ") {
				continue
			}
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastTimestamp.Before(&out[j].LastTimestamp) })
	if len(out) > 8 {
		out = out[len(out)-8:]
	}
	return out
}

func (e *Explainer) namespacesWithSecret(ctx context.Context, name, except string) []string {
	list, err := e.Client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range list.Items {
		if s.Namespace != except {
			out = append(out, s.Namespace)
		}
	}
	return out
}

func sameNames(a, b []corev1.LocalObjectReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

func refNames(refs []corev1.LocalObjectReference) string {
	var n []string
	for _, r := range refs {
		n = append(n, r.Name)
	}
	return quoteList(n)
}

func quoteList(items []string) string {
	if len(items) == 0 {
		return "(none)"
	}
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
