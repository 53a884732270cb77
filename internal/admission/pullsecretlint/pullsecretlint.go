// Package pullsecretlint warns, when a pod is created, about image pull
// secrets that will not do what their author expects on the node. Kubernetes
// admits such pods silently and the user later meets ImagePullBackOff with no
// clue; berth admits them too but returns one-line warnings (kubectl prints
// "Warning: ...") that name the pod field, the secret and the fix:
//
//   - the secret does not exist in the pod's namespace (and whether one of
//     that name exists elsewhere: secrets are read only from the pod's own
//     namespace);
//   - its type is one the node ignores, or its data key does not fit the type;
//   - its docker config is not valid JSON, or an entry's "auth" is malformed,
//     which makes the node fail credential lookup for the whole pod;
//   - none of its registry keys matches any image of the pod (with the
//     normalised key that would);
//   - a Harbor robot username lost its "$..." part to the shell.
//
// Each warning says whether the secret was listed in the pod spec or copied
// from the service account. The plugin never rejects a pod and never puts a
// secret value in a warning. It matches images with the node's own keyring
// (internal/keyring), so it cannot disagree with the node.
package pullsecretlint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/imageref"
	"github.com/berth-dev/berth/internal/keyring"
)

// PluginName names the plugin in --enable-admission-plugins.
const PluginName = "PullSecretLint"

// Secrets reads secrets. Get returns an error for which apierrors.IsNotFound
// is true when the secret does not exist. Namespaces returns the namespaces
// that hold a secret called name; it feeds only the "exists in another
// namespace" hint, and an error just drops the hint. Both must be safe for
// concurrent use.
type Secrets interface {
	Get(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Namespaces(ctx context.Context, name string) ([]string, error)
}

// ServiceAccounts reads ServiceAccounts, to tell pull secrets copied from the
// pod's account from those written in the pod spec.
type ServiceAccounts interface {
	Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
}

// Plugin is the pull-secret lint. It is a Validator so that it runs after
// the ServiceAccount plugin has copied the account's pull secrets.
type Plugin struct {
	secrets  Secrets
	accounts ServiceAccounts
}

var _ admission.Validator = (*Plugin)(nil)

// New returns the lint. accounts may be nil; warnings then do not say where
// a secret came from.
func New(secrets Secrets, accounts ServiceAccounts) *Plugin {
	return &Plugin{secrets: secrets, accounts: accounts}
}

// Validate adds warnings to a for the pull secrets of a pod being created
// (not on updates or subresources: pull secrets are fixed at creation). It
// always returns nil: a lookup that fails only costs a warning.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" ||
		a.Resource.GroupResource() != (schema.GroupResource{Resource: "pods"}) {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || pod == nil || len(pod.Spec.ImagePullSecrets) == 0 {
		return nil
	}
	ns := a.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	l := lint{
		p:      p,
		ns:     ns,
		images: podImages(&pod.Spec),
		origin: p.origin(ctx, ns, pod),
	}
	for i, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue // skipped by the node; pod validation reports empty names
		}
		for _, w := range l.check(ctx, i, ref.Name) {
			a.AddWarning(w)
		}
	}
	return nil
}

// origin says where the pod's pull secrets came from: "copied from service
// account X" when the list is exactly the account's (the ServiceAccount
// plugin copies it whole, and only into pods that list none), else "from the
// pod spec"; "" when that cannot be told (no account reader, or the account
// cannot be read).
func (p *Plugin) origin(ctx context.Context, ns string, pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName == "" {
		return "from the pod spec" // no account, so nothing was copied
	}
	if p.accounts == nil {
		return ""
	}
	sa, err := p.accounts.Get(ctx, ns, pod.Spec.ServiceAccountName)
	if err != nil || sa == nil {
		return ""
	}
	if slices.Equal(refNames(sa.ImagePullSecrets), refNames(pod.Spec.ImagePullSecrets)) {
		return fmt.Sprintf("copied from service account %q", sa.Name)
	}
	return "from the pod spec"
}

// image is one image of the pod, parsed.
type image struct {
	name string // as written in the pod
	ref  imageref.Ref
}

// lint checks one pod's secrets.
type lint struct {
	p      *Plugin
	ns     string
	images []image
	origin string
}

// check returns the warnings for spec.imagePullSecrets[i].
func (l lint) check(ctx context.Context, i int, name string) []string {
	prefix := fmt.Sprintf("spec.imagePullSecrets[%d].name: secret %q", i, name)
	if l.origin != "" {
		prefix += " (" + l.origin + ")"
	}
	secret, err := l.p.secrets.Get(ctx, l.ns, name)
	if apierrors.IsNotFound(err) {
		return []string{prefix + l.notFound(ctx, name)}
	}
	if err != nil || secret == nil {
		return nil
	}
	kr, uses, err := keyring.FromSecrets([]corev1.Secret{*secret})
	var se *keyring.SecretError
	switch {
	case errors.As(err, &se):
		return []string{prefix + invalid(se)}
	case err != nil:
		return nil
	case len(uses) == 1 && !uses[0].Used:
		return []string{prefix + ignored(secret)}
	case len(uses) != 1:
		return nil
	}
	return l.matches(prefix, secret, kr, uses[0])
}

func (l lint) notFound(ctx context.Context, name string) string {
	msg := fmt.Sprintf(" not found in namespace %q; the node will pull without it (ImagePullBackOff likely)", l.ns)
	namespaces, err := l.p.secrets.Namespaces(ctx, name)
	if err != nil {
		return msg
	}
	others := slices.DeleteFunc(slices.Clone(namespaces), func(n string) bool { return n == l.ns })
	slices.Sort(others)
	switch len(others) {
	case 0:
		return msg
	case 1:
		return msg + fmt.Sprintf("; a secret of that name exists in namespace %q, but secrets are read only from the pod's own namespace", others[0])
	default:
		return msg + fmt.Sprintf("; secrets of that name exist in namespaces %s, but secrets are read only from the pod's own namespace", quoteList(others))
	}
}

// ignored explains a secret the keyring skipped: wrong type, or the data key
// of the other type.
func ignored(s *corev1.Secret) string {
	accepted := fmt.Sprintf("%q (data key %s) or %q (data key %s)",
		corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, corev1.SecretTypeDockercfg, corev1.DockerConfigKey)
	var wantKey, otherKey string
	var otherType corev1.SecretType
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		wantKey, otherKey, otherType = corev1.DockerConfigJsonKey, corev1.DockerConfigKey, corev1.SecretTypeDockercfg
	case corev1.SecretTypeDockercfg:
		wantKey, otherKey, otherType = corev1.DockerConfigKey, corev1.DockerConfigJsonKey, corev1.SecretTypeDockerConfigJson
	default:
		msg := fmt.Sprintf(" has type %q, which the node ignores for image pulls; pull secrets must have type %s", s.Type, accepted)
		if _, ok := s.Data[corev1.DockerConfigJsonKey]; ok {
			// A secret's type cannot be changed, hence "recreate".
			msg += fmt.Sprintf("; recreate it with type %q (kubectl create secret docker-registry)", corev1.SecretTypeDockerConfigJson)
		} else if _, ok := s.Data[corev1.DockerConfigKey]; ok {
			msg += fmt.Sprintf("; recreate it with type %q", corev1.SecretTypeDockercfg)
		}
		return msg
	}
	state := "no"
	if _, ok := s.Data[wantKey]; ok {
		state = "an empty"
	}
	msg := fmt.Sprintf(" has type %q but %s %s key, so the node ignores it", s.Type, state, wantKey)
	if _, ok := s.Data[otherKey]; ok {
		msg += fmt.Sprintf("; it has %s, the key of type %q", otherKey, otherType)
	}
	return msg
}

// invalid explains a docker config the node cannot decode. SecretError
// carries no secret value.
func invalid(se *keyring.SecretError) string {
	const effect = "; the node fails image credential lookup for every image of this pod"
	if se.Entry != "" {
		return fmt.Sprintf(" has an invalid \"auth\" in entry %q of %s: %v%s", se.Entry, se.DataKey, se.Err, effect)
	}
	return fmt.Sprintf(" is not valid docker config JSON (%s): %v%s", se.DataKey, se.Err, effect)
}

// matches warns when no image of the pod matches the secret, and when a
// matching credential looks like a shell-mangled Harbor robot account.
func (l lint) matches(prefix string, secret *corev1.Secret, kr *keyring.Keyring, use keyring.SecretUse) []string {
	if len(l.images) == 0 {
		return nil
	}
	var matched []keyring.Credential
	for _, img := range l.images {
		creds, err := kr.Lookup(img.name)
		if err == nil {
			matched = append(matched, creds...)
		}
	}
	if len(matched) == 0 {
		return []string{prefix + l.noMatch(secret, use)}
	}
	for _, c := range matched {
		if looksShellMangledRobot(c.Username) {
			return []string{prefix + fmt.Sprintf(" has a username for registry key %q that starts with \"robot\" but has no \"$\"; Harbor robot accounts are named \"robot$<name>\", so a shell probably expanded \"$<name>\" when the secret was created (quote it with single quotes)", c.Key)}
		}
	}
	return nil
}

func (l lint) noMatch(secret *corev1.Secret, use keyring.SecretUse) string {
	keys := "no registry keys"
	if len(use.Keys) > 0 {
		keys = "registry keys " + quoteList(use.Keys)
	}
	var where []string
	var domains []string
	for _, img := range l.images {
		where = append(where, fmt.Sprintf("%q (%s)", img.ref.Domain, img.name))
		if !slices.Contains(domains, img.ref.Domain) {
			domains = append(domains, img.ref.Domain)
		}
	}
	msg := fmt.Sprintf(" matches none of the pod's images, so the node will pull them without it: it has %s; the images are on %s; a registry key %s would match",
		keys, strings.Join(where, ", "), quoteOr(domains))
	if len(use.Keys) == 0 && usesCredentialStore(secret) {
		msg += "; its config names a credential store (credsStore/credHelpers) and has no \"auths\": the credentials stayed on the machine it was copied from"
	}
	return msg
}

// looksShellMangledRobot spots "robot$name" (Harbor 1.x) and
// "robot$project+name" (Harbor 2) after a shell expanded "$name" or
// "$project" to nothing inside double quotes.
func looksShellMangledRobot(user string) bool {
	return user == "robot" || (strings.HasPrefix(user, "robot+") && !strings.Contains(user, "$"))
}

// usesCredentialStore reports a .dockerconfigjson that names a credential
// store or helpers: `docker login` on a desktop writes those instead of
// "auths" (the credsStore trap). Only top-level key names are read.
func usesCredentialStore(s *corev1.Secret) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &top) != nil {
		return false
	}
	_, store := top["credsStore"]
	_, helpers := top["credHelpers"]
	return store || helpers
}

// podImages lists the pod's images, init, regular and ephemeral containers,
// once each, skipping names that do not parse (validation rejects those).
func podImages(spec *corev1.PodSpec) []image {
	var names []string
	for _, c := range spec.InitContainers {
		names = append(names, c.Image)
	}
	for _, c := range spec.Containers {
		names = append(names, c.Image)
	}
	for _, c := range spec.EphemeralContainers {
		names = append(names, c.Image)
	}
	var out []image
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		ref, err := imageref.Parse(n)
		if err != nil {
			continue
		}
		out = append(out, image{name: n, ref: ref})
	}
	return out
}

func refNames(refs []corev1.LocalObjectReference) []string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.Name
	}
	return names
}

// quoteList renders ["a" "b"] as `"a", "b"`.
func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// quoteOr renders ["a" "b"] as `"a" or "b"`.
func quoteOr(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " or ")
}
