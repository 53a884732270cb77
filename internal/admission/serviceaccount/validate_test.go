package serviceaccount

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/berth-dev/berth/internal/admission"
)

func enforced(sa *corev1.ServiceAccount, value string, secrets ...string) *corev1.ServiceAccount {
	sa.Annotations = map[string]string{EnforceMountableSecretsAnnotation: value}
	for _, s := range secrets {
		sa.Secrets = append(sa.Secrets, corev1.ObjectReference{Name: s})
	}
	return sa
}

func mirror(p *corev1.Pod) {
	p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
}

func withSA(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.ServiceAccountName = name }
}

func envSecret(secret string) corev1.EnvVar {
	return corev1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "k"},
	}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		sa      *corev1.ServiceAccount
		attrs   *admission.Attributes
		wantErr string
	}{
		{
			name:  "existing account",
			sa:    account("default"),
			attrs: attrs(admission.Create, "", pod(withSA("default"))),
		},
		{
			name:    "no account named",
			sa:      account("default"),
			attrs:   attrs(admission.Create, "", pod()),
			wantErr: `pods "web" is forbidden: no service account specified for pod team-a/web`,
		},
		{
			name:    "missing account",
			sa:      account("default"),
			attrs:   attrs(admission.Create, "", pod(withSA("builder"))),
			wantErr: `pods "web" is forbidden: error looking up service account team-a/builder: serviceaccount "builder" not found`,
		},
		{
			name:  "updates are not validated",
			sa:    account("default"),
			attrs: attrs(admission.Update, "", pod(withSA("ghost"))),
		},
		{
			name:  "other subresources are not validated",
			sa:    account("default"),
			attrs: attrs(admission.Create, "status", pod()),
		},
		{
			name:  "a plain mirror pod",
			sa:    account("default"),
			attrs: attrs(admission.Create, "", pod(mirror)),
		},
		{
			name:    "a mirror pod with an account",
			sa:      account("default"),
			attrs:   attrs(admission.Create, "", pod(mirror, withSA("default"))),
			wantErr: `pods "web" is forbidden: a mirror pod may not reference service accounts`,
		},
		{
			name: "a mirror pod with a pull secret",
			sa:   account("default"),
			attrs: attrs(admission.Create, "", pod(mirror, func(p *corev1.Pod) {
				p.Spec.ImagePullSecrets = pullSecrets("regcred")
			})),
			wantErr: `pods "web" is forbidden: a mirror pod may not reference secrets`,
		},
		{
			name: "a mirror pod with a projected secret",
			sa:   account("default"),
			attrs: attrs(admission.Create, "", pod(mirror, func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}},
				}}}}
			})),
			wantErr: `pods "web" is forbidden: a mirror pod may not reference secrets`,
		},
		{
			name: "a mirror pod with a secret in an ephemeral container",
			sa:   account("default"),
			attrs: attrs(admission.Create, "", pod(mirror, func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", Env: []corev1.EnvVar{envSecret("s")},
				}}}
			})),
			wantErr: `pods "web" is forbidden: a mirror pod may not reference secrets`,
		},
		{
			name: "a mirror pod with a token projection",
			sa:   account("default"),
			attrs: attrs(admission.Create, "", pod(mirror, func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}},
				}}}}
			})),
			wantErr: `pods "web" is forbidden: a mirror pod may not use ServiceAccountToken volume projections`,
		},
		{
			name: "enforced: a pull secret the account does not list",
			sa:   enforced(account("default", "regcred"), "true"),
			attrs: attrs(admission.Create, "", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.ImagePullSecrets = pullSecrets("regcred", "other")
			})),
			wantErr: `pods "web" is forbidden: imagePullSecrets[1].name="other" is not allowed because service account default does not reference that imagePullSecret`,
		},
		{
			name: "enforced: a secret volume the account does not list",
			sa:   enforced(account("default"), "true", "allowed"),
			attrs: attrs(admission.Create, "", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{
					{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "allowed"}}},
					{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db"}}},
				}
			})),
			wantErr: `pods "web" is forbidden: volume with secret.secretName="db" is not allowed because service account default does not reference that secret`,
		},
		{
			name: "enforced: an init container's envFrom",
			sa:   enforced(account("default"), "1"),
			attrs: attrs(admission.Create, "", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "init", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}}}}}
			})),
			wantErr: `pods "web" is forbidden: init container init with envFrom referencing secret.secretName="db" is not allowed because service account default does not reference that secret`,
		},
		{
			name: "enforced: a container's env",
			sa:   enforced(account("default"), "true"),
			attrs: attrs(admission.Create, "", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{envSecret("db")}
			})),
			wantErr: `pods "web" is forbidden: container app with envVar TOKEN referencing secret.secretName="db" is not allowed because service account default does not reference that secret`,
		},
		{
			name: "enforced: everything listed",
			sa:   enforced(account("default", "regcred"), "true", "db"),
			attrs: attrs(admission.Create, "", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.ImagePullSecrets = pullSecrets("regcred")
				p.Spec.Containers[0].Env = []corev1.EnvVar{envSecret("db")}
			})),
		},
		{
			name: "annotation that is not true does not enforce",
			sa:   enforced(account("default"), "maybe"),
			attrs: attrs(admission.Create, "", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.ImagePullSecrets = pullSecrets("other")
			})),
		},
		{
			name: "WithLimitSecretReferences enforces without the annotation",
			opts: []Option{WithLimitSecretReferences(true)},
			sa:   account("default"),
			attrs: attrs(admission.Create, "", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.ImagePullSecrets = pullSecrets("other")
			})),
			wantErr: `pods "web" is forbidden: imagePullSecrets[0].name="other" is not allowed because service account default does not reference that imagePullSecret`,
		},
		{
			name: "ephemeral containers: secret not listed",
			sa:   enforced(account("default"), "true"),
			attrs: attrs(admission.Update, "ephemeralcontainers", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debugger", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}}},
				}}}
			})),
			wantErr: `pods "web" is forbidden: ephemeral container debugger with envFrom referencing secret.secretName="db" is not allowed because service account default does not reference that secret`,
		},
		{
			name:    "ephemeral containers: the account is gone",
			sa:      account("other"),
			attrs:   attrs(admission.Update, "ephemeralcontainers", pod(withSA("builder"))),
			wantErr: `pods "web" is forbidden: error looking up service account team-a/builder: serviceaccount "builder" not found`,
		},
		{
			name: "ephemeral containers: not enforced",
			sa:   account("default"),
			attrs: attrs(admission.Update, "ephemeralcontainers", pod(withSA("default"), func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debugger", Env: []corev1.EnvVar{envSecret("db")},
				}}}
			})),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := testPlugin(accounts(tc.sa), tc.opts...)
			err := p.Validate(context.Background(), tc.attrs)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() error = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Validate() error = %v\nwant %q", err, tc.wantErr)
			}
			if !apierrors.IsForbidden(err) {
				t.Errorf("Validate() error = %#v, want a Forbidden status", err)
			}
		})
	}
}

// Admit then Validate, as the chain runs them: a pod that named no account
// passes Validate once Admit has defaulted it.
func TestChain(t *testing.T) {
	p, _ := testPlugin(accounts(account("default", "regcred")))
	chain := admission.Chain{Plugins: []any{p}}
	a := attrs(admission.Create, "", pod())
	if err := chain.Admit(context.Background(), a); err != nil {
		t.Fatalf("Admit() error = %v", err)
	}
	if err := chain.Validate(context.Background(), a); err != nil {
		t.Fatalf("Validate() error = %v", err)
	}
	got := a.Object.(*corev1.Pod)
	if got.Spec.ServiceAccountName != "default" || len(got.Spec.ImagePullSecrets) != 1 {
		t.Errorf("after the chain: serviceAccountName = %q, imagePullSecrets = %v", got.Spec.ServiceAccountName, got.Spec.ImagePullSecrets)
	}
}
