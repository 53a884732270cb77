// Package serviceaccount is the ServiceAccount admission plugin, as in
// Kubernetes (plugin/pkg/admission/serviceaccount): on pod creation it
// defaults spec.serviceAccountName to "default", requires the account to
// exist, and copies the account's imagePullSecrets into a pod that lists
// none.
//
// Unless automountServiceAccountToken resolves to false (pod first, then
// account), it adds the kube-api-access-* projected volume (token, ca.crt,
// namespace) mounted read-only into every container, as Kubernetes does.
package serviceaccount

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/admission"
)

const (
	// PluginName is the name --enable-admission-plugins knows the plugin by.
	PluginName = "ServiceAccount"

	// DefaultServiceAccountName is the account a pod that names none runs as.
	DefaultServiceAccountName = "default"

	// EnforceMountableSecretsAnnotation on a ServiceAccount, when it parses as
	// true, limits its pods to the secrets the account lists.
	EnforceMountableSecretsAnnotation = "kubernetes.io/enforce-mountable-secrets"

	// defaultAttempts is how often the "default" account is looked up before
	// giving up: the service-account controller may not have created it yet
	// in a namespace made a moment ago. Any other name is looked up once.
	defaultAttempts = 10
)

// ServiceAccounts reads ServiceAccounts. Get returns an error for which
// apierrors.IsNotFound is true when the account does not exist. It must be
// safe for concurrent use.
type ServiceAccounts interface {
	Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
}

// Plugin is the ServiceAccount admission plugin. It is both a Mutator and a
// Validator; put it first among the mutators so that plugins after it (and
// pullsecretlint) see the pull secrets it copied.
type Plugin struct {
	accounts              ServiceAccounts
	limitSecretReferences bool
	noTokenMount          bool

	// wait sleeps between lookups; tests replace it.
	wait func(ctx context.Context, d time.Duration) error
	// interval picks the pause between lookups; tests replace it.
	interval func() time.Duration
}

var (
	_ admission.Mutator   = (*Plugin)(nil)
	_ admission.Validator = (*Plugin)(nil)
)

// Option configures a Plugin.
type Option func(*Plugin)

// WithLimitSecretReferences makes every pod use only the secrets its service
// account lists (secret volumes, env and envFrom secrets, imagePullSecrets),
// as the plugin's LimitSecretReferences flag does in Kubernetes. Default:
// false, so only accounts annotated with EnforceMountableSecretsAnnotation
// are enforced.
func WithLimitSecretReferences(limit bool) Option {
	return func(p *Plugin) { p.limitSecretReferences = limit }
}

// WithoutTokenMount turns off the kube-api-access volume (kube-apiserver's
// MountServiceAccountToken=false), for API servers whose nodes cannot
// write tokens.
func WithoutTokenMount() Option {
	return func(p *Plugin) { p.noTokenMount = true }
}

// New returns the plugin reading accounts through accounts.
func New(accounts ServiceAccounts, opts ...Option) *Plugin {
	p := &Plugin{
		accounts: accounts,
		wait:     sleep,
		// Kubernetes draws one pause of 100–200 ms per lookup and reuses it
		// between attempts.
		interval: func() time.Duration { return 100*time.Millisecond + rand.N(100*time.Millisecond) },
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Admit runs on pod CREATE only (not on subresources): it defaults
// spec.serviceAccountName to "default", looks the account up (rejecting the
// pod when it does not exist) and, when the pod lists no imagePullSecrets,
// copies the account's, in the account's order. Later changes to the account
// never reach existing pods.
//
// Mirror pods are left untouched; Validate rejects them if they reference an
// account or secrets. Like Kubernetes, it then mounts the account's token
// (see mountServiceAccountToken).
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	pod, ok := podOf(a)
	if !ok || a.Operation != admission.Create || a.Subresource != "" {
		return nil
	}
	if isMirrorPod(pod) {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccountName
	}
	sa, err := p.getServiceAccount(ctx, a.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if len(pod.Spec.ImagePullSecrets) == 0 {
		// Names only: the copy must not share memory with the account.
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, ref := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = ref.Name
		}
	}
	if !p.noTokenMount && shouldAutomount(sa, pod) {
		mountServiceAccountToken(pod)
	}
	return nil
}

// Validate checks pods on CREATE and the ephemeralcontainers subresource on
// UPDATE, as Kubernetes does:
//   - a mirror pod may reference no service account, no secret and no
//     ServiceAccountToken projection;
//   - any other pod must name a service account that exists;
//   - when secret references are limited (WithLimitSecretReferences, or the
//     account's EnforceMountableSecretsAnnotation), every secret the pod uses
//     must be listed by the account, and every imagePullSecret must be among
//     the account's imagePullSecrets.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	pod, ok := podOf(a)
	if !ok || (a.Subresource != "" && a.Subresource != "ephemeralcontainers") {
		return nil
	}
	if a.Operation == admission.Update && a.Subresource == "ephemeralcontainers" {
		return p.validateEphemeralContainers(ctx, a, pod)
	}
	if a.Operation != admission.Create {
		return nil
	}
	if isMirrorPod(pod) {
		return validateMirrorPod(a, pod)
	}
	if pod.Spec.ServiceAccountName == "" {
		return admission.NewForbidden(a, fmt.Errorf("no service account specified for pod %s/%s", a.Namespace, pod.Name))
	}
	sa, err := p.getServiceAccount(ctx, a.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %v", a.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if p.enforceMountableSecrets(sa) {
		if err := limitSecretReferences(sa, pod); err != nil {
			return admission.NewForbidden(a, err)
		}
	}
	return nil
}

// validateEphemeralContainers is the `kubectl debug` path: the account must
// still exist and, when enforced, ephemeral containers may only use the
// account's secrets. Kubernetes returns the secret-reference violation
// unwrapped; berth wraps it as Forbidden like every other rejection.
func (p *Plugin) validateEphemeralContainers(ctx context.Context, a *admission.Attributes, pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName == "" {
		return admission.NewForbidden(a, fmt.Errorf("no service account specified for pod %s/%s", a.Namespace, pod.Name))
	}
	sa, err := p.getServiceAccount(ctx, a.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if !p.enforceMountableSecrets(sa) {
		return nil
	}
	mountable := secretNames(sa.Secrets)
	for _, c := range pod.Spec.EphemeralContainers {
		if err := checkContainerSecrets("ephemeral container", c.Name, c.Env, c.EnvFrom, mountable, sa.Name); err != nil {
			return admission.NewForbidden(a, err)
		}
	}
	return nil
}

// getServiceAccount looks the account up, retrying a missing "default"
// account (see defaultAttempts) with the same random 100–200 ms pause between
// attempts. Errors other than NotFound end the lookup at once; ctx ends the
// wait. Still missing: NotFound `serviceaccount "<name>" not found`.
func (p *Plugin) getServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	attempts := 1
	if name == DefaultServiceAccountName {
		attempts = defaultAttempts
	}
	interval := p.interval()
	for i := range attempts {
		if i > 0 {
			if err := p.wait(ctx, interval); err != nil {
				return nil, err
			}
		}
		sa, err := p.accounts.Get(ctx, namespace, name)
		if err == nil && sa != nil {
			return sa, nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccount"}, name)
}

func (p *Plugin) enforceMountableSecrets(sa *corev1.ServiceAccount) bool {
	if p.limitSecretReferences {
		return true
	}
	enforce, _ := strconv.ParseBool(sa.Annotations[EnforceMountableSecretsAnnotation])
	return enforce
}

// podOf returns the pod of a request on the pods resource.
func podOf(a *admission.Attributes) (*corev1.Pod, bool) {
	if a.Resource.GroupResource() != (schema.GroupResource{Resource: "pods"}) {
		return nil, false
	}
	pod, ok := a.Object.(*corev1.Pod)
	return pod, ok && pod != nil
}

func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
