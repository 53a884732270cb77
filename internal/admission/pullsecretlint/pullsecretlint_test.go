package pullsecretlint

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/admission"
)

// password and its auth are planted in every test secret; no warning may
// contain either.
const password = "Pa55-w0rd:$ecret"

var auth = base64.StdEncoding.EncodeToString([]byte("user:" + password))

type fakeSecrets struct {
	secrets map[string]*corev1.Secret // "ns/name"
	getErr  error
	nsErr   error
}

func (f *fakeSecrets) Get(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	s, ok := f.secrets[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	}
	return s, nil
}

func (f *fakeSecrets) Namespaces(_ context.Context, name string) ([]string, error) {
	if f.nsErr != nil {
		return nil, f.nsErr
	}
	var out []string
	for _, s := range f.secrets {
		if s.Name == name {
			out = append(out, s.Namespace)
		}
	}
	return out, nil
}

type fakeAccounts map[string]*corev1.ServiceAccount // "ns/name"; nil value: fail

func (f fakeAccounts) Get(_ context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, ok := f[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, name)
	}
	if sa == nil {
		return nil, errors.New("etcd unavailable")
	}
	return sa, nil
}

func secret(ns, name string, typ corev1.SecretType, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: typ, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// regcred is what `kubectl create secret docker-registry` writes for server.
func regcred(ns, name, server, user string) *corev1.Secret {
	a := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	return secret(ns, name, corev1.SecretTypeDockerConfigJson, map[string]string{
		".dockerconfigjson": `{"auths":{"` + server + `":{"username":"` + user + `","password":"` + password + `","auth":"` + a + `"}}}`,
	})
}

func secrets(ss ...*corev1.Secret) *fakeSecrets {
	f := &fakeSecrets{secrets: map[string]*corev1.Secret{}}
	for _, s := range ss {
		f.secrets[s.Namespace+"/"+s.Name] = s
	}
	return f
}

func sa(name string, pull ...string) *corev1.ServiceAccount {
	a := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name}}
	for _, p := range pull {
		a.ImagePullSecrets = append(a.ImagePullSecrets, corev1.LocalObjectReference{Name: p})
	}
	return a
}

// pod runs images as regular containers, lists pull as its pull secrets and
// runs as the default account.
func pod(pull []string, images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web"}}
	p.Spec.ServiceAccountName = "default"
	for _, s := range pull {
		p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	for _, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c", Image: img})
	}
	return p
}

func createAttrs(p *corev1.Pod) *admission.Attributes {
	return &admission.Attributes{
		Operation: admission.Create,
		Resource:  schema.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: "team-a",
		Name:      p.Name,
		Object:    p,
	}
}

func TestValidate(t *testing.T) {
	defaultSA := fakeAccounts{"team-a/default": sa("default")}
	tests := []struct {
		name     string
		secrets  *fakeSecrets
		accounts ServiceAccounts
		attrs    *admission.Attributes
		want     []string
	}{
		{
			name:     "missing secret",
			secrets:  secrets(),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely)`,
			},
		},
		{
			name:     "missing secret that exists in another namespace",
			secrets:  secrets(regcred("default", "regcred", "ghcr.io", "u")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely); a secret of that name exists in namespace "default", but secrets are read only from the pod's own namespace`,
			},
		},
		{
			name:     "missing secret that exists in several other namespaces",
			secrets:  secrets(regcred("team-b", "regcred", "ghcr.io", "u"), regcred("default", "regcred", "ghcr.io", "u")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely); secrets of that name exist in namespaces "default", "team-b", but secrets are read only from the pod's own namespace`,
			},
		},
		{
			name: "the hint is dropped when listing fails",
			secrets: func() *fakeSecrets {
				f := secrets(regcred("default", "regcred", "ghcr.io", "u"))
				f.nsErr = errors.New("forbidden")
				return f
			}(),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely)`,
			},
		},
		{
			name:     "copied from the service account",
			secrets:  secrets(),
			accounts: fakeAccounts{"team-a/default": sa("default", "regcred")},
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (copied from service account "default") not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely)`,
			},
		},
		{
			name:     "origin unknown when the account cannot be read",
			secrets:  secrets(),
			accounts: fakeAccounts{"team-a/default": nil},
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely)`,
			},
		},
		{
			name: "opaque secret with a docker config",
			secrets: secrets(secret("team-a", "regcred", corev1.SecretTypeOpaque, map[string]string{
				".dockerconfigjson": `{"auths":{"ghcr.io":{"auth":"` + auth + `"}}}`,
			})),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) has type "Opaque", which the node ignores for image pulls; pull secrets must have type "kubernetes.io/dockerconfigjson" (data key .dockerconfigjson) or "kubernetes.io/dockercfg" (data key .dockercfg); recreate it with type "kubernetes.io/dockerconfigjson" (kubectl create secret docker-registry)`,
			},
		},
		{
			name:     "dockerconfigjson type with the dockercfg key",
			secrets:  secrets(secret("team-a", "regcred", corev1.SecretTypeDockerConfigJson, map[string]string{".dockercfg": `{}`})),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) has type "kubernetes.io/dockerconfigjson" but no .dockerconfigjson key, so the node ignores it; it has .dockercfg, the key of type "kubernetes.io/dockercfg"`,
			},
		},
		{
			name:     "empty data key",
			secrets:  secrets(secret("team-a", "regcred", corev1.SecretTypeDockercfg, map[string]string{".dockercfg": ""})),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) has type "kubernetes.io/dockercfg" but an empty .dockercfg key, so the node ignores it`,
			},
		},
		{
			name: "invalid JSON",
			secrets: secrets(secret("team-a", "regcred", corev1.SecretTypeDockerConfigJson, map[string]string{
				".dockerconfigjson": `{"auths":{"ghcr.io":{"password":` + password + `}}}`,
			})),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) is not valid docker config JSON (.dockerconfigjson): invalid JSON at byte 33: unexpected character looking for beginning of value; the node fails image credential lookup for every image of this pod`,
			},
		},
		{
			name: "auth without a colon",
			secrets: secrets(secret("team-a", "regcred", corev1.SecretTypeDockerConfigJson, map[string]string{
				".dockerconfigjson": `{"auths":{"ghcr.io":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(password[:4])) + `"}}}`,
			})),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) has an invalid "auth" in entry "ghcr.io" of .dockerconfigjson: unable to parse auth field, must be formatted as base64(username:password); the node fails image credential lookup for every image of this pod`,
			},
		},
		{
			name:     "no key matches any image",
			secrets:  secrets(regcred("team-a", "regcred", "https://quay.io/v1/", "u")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1", "nginx")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) matches none of the pod's images, so the node will pull them without it: it has registry keys "quay.io"; the images are on "ghcr.io" (ghcr.io/team/app:v1), "docker.io" (nginx); a registry key "ghcr.io" or "docker.io" would match`,
			},
		},
		{
			name:     "a path key for another organisation",
			secrets:  secrets(regcred("team-a", "regcred", "ghcr.io/other-org", "u")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) matches none of the pod's images, so the node will pull them without it: it has registry keys "ghcr.io/other-org"; the images are on "ghcr.io" (ghcr.io/team/app:v1); a registry key "ghcr.io" would match`,
			},
		},
		{
			name: "credsStore trap",
			secrets: secrets(secret("team-a", "regcred", corev1.SecretTypeDockerConfigJson, map[string]string{
				".dockerconfigjson": `{"auths":{},"credsStore":"desktop"}`,
			})),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) matches none of the pod's images, so the node will pull them without it: it has no registry keys; the images are on "ghcr.io" (ghcr.io/team/app:v1); a registry key "ghcr.io" would match; its config names a credential store (credsStore/credHelpers) and has no "auths": the credentials stayed on the machine it was copied from`,
			},
		},
		{
			name:     "kubectl's default server matches Docker Hub through the fallback",
			secrets:  secrets(regcred("team-a", "regcred", "https://index.docker.io/v1/", "u")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "nginx:1.27", "team/app")),
		},
		{
			name:     "one matching image is enough",
			secrets:  secrets(regcred("team-a", "regcred", "ghcr.io", "u")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "nginx", "ghcr.io/team/app:v1")),
		},
		{
			name:     "harbor robot account mangled by the shell",
			secrets:  secrets(regcred("team-a", "harbor", "harbor.example.com", "robot")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"harbor"}, "harbor.example.com/proj/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "harbor" (from the pod spec) has a username for registry key "harbor.example.com" that starts with "robot" but has no "$"; Harbor robot accounts are named "robot$<name>", so a shell probably expanded "$<name>" when the secret was created (quote it with single quotes)`,
			},
		},
		{
			name:     "harbor 2 robot account mangled by the shell",
			secrets:  secrets(regcred("team-a", "harbor", "harbor.example.com", "robot+ci")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"harbor"}, "harbor.example.com/proj/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "harbor" (from the pod spec) has a username for registry key "harbor.example.com" that starts with "robot" but has no "$"; Harbor robot accounts are named "robot$<name>", so a shell probably expanded "$<name>" when the secret was created (quote it with single quotes)`,
			},
		},
		{
			name:     "an intact harbor robot account",
			secrets:  secrets(regcred("team-a", "harbor", "harbor.example.com", "robot$proj+ci")),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"harbor"}, "harbor.example.com/proj/app:v1")),
		},
		{
			name: "several secrets, warned in order, empty names skipped",
			secrets: secrets(
				regcred("team-a", "good", "ghcr.io", "u"),
				secret("team-a", "opaque", corev1.SecretTypeOpaque, nil),
			),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"missing", "", "good", "opaque"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "missing" (from the pod spec) not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely)`,
				`spec.imagePullSecrets[3].name: secret "opaque" (from the pod spec) has type "Opaque", which the node ignores for image pulls; pull secrets must have type "kubernetes.io/dockerconfigjson" (data key .dockerconfigjson) or "kubernetes.io/dockercfg" (data key .dockercfg)`,
			},
		},
		{
			name: "other read errors cost only the warning",
			secrets: func() *fakeSecrets {
				f := secrets()
				f.getErr = apierrors.NewInternalError(errors.New("etcd unavailable"))
				return f
			}(),
			accounts: defaultSA,
			attrs:    createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
		},
		{
			name:    "no account reader",
			secrets: secrets(),
			attrs:   createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1")),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely)`,
			},
		},
		{
			name:    "a pod without an account lists its own secrets",
			secrets: secrets(),
			attrs: func() *admission.Attributes {
				p := pod([]string{"regcred"}, "ghcr.io/team/app:v1")
				p.Spec.ServiceAccountName = ""
				return createAttrs(p)
			}(),
			want: []string{
				`spec.imagePullSecrets[0].name: secret "regcred" (from the pod spec) not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely)`,
			},
		},
		{
			name:     "updates are not linted",
			secrets:  secrets(),
			accounts: defaultSA,
			attrs: func() *admission.Attributes {
				a := createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1"))
				a.Operation = admission.Update
				return a
			}(),
		},
		{
			name:     "subresources are not linted",
			secrets:  secrets(),
			accounts: defaultSA,
			attrs: func() *admission.Attributes {
				a := createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1"))
				a.Subresource = "binding"
				return a
			}(),
		},
		{
			name:     "other resources are not linted",
			secrets:  secrets(),
			accounts: defaultSA,
			attrs: func() *admission.Attributes {
				a := createAttrs(pod([]string{"regcred"}, "ghcr.io/team/app:v1"))
				a.Resource.Resource = "podtemplates"
				return a
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			accounts := tc.accounts
			if accounts == nil {
				accounts = nilAccounts()
			}
			p := New(tc.secrets, accounts)
			if err := p.Validate(context.Background(), tc.attrs); err != nil {
				t.Fatalf("Validate() error = %v, want nil: the lint never rejects", err)
			}
			got := tc.attrs.Warnings()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Warnings() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, w := range got {
				if strings.Contains(w, password) || strings.Contains(w, password[:4]) || strings.Contains(w, auth) || strings.Contains(w, "\n") {
					t.Errorf("warning %q contains a secret value or a line break", w)
				}
				if !strings.HasPrefix(w, "spec.imagePullSecrets[") {
					t.Errorf("warning %q does not start with the pod's field path", w)
				}
			}
		})
	}
}

// nilAccounts stands for "no ServiceAccounts given" (New(..., nil)).
func nilAccounts() ServiceAccounts { return nil }

// The lint sees what the ServiceAccount plugin copied only if it runs after
// the mutating phase: as a Validator in the same chain.
func TestRunsAfterMutators(t *testing.T) {
	copier := mutatorFunc(func(_ context.Context, a *admission.Attributes) error {
		p := a.Object.(*corev1.Pod)
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		return nil
	})
	lint := New(secrets(), fakeAccounts{"team-a/default": sa("default", "regcred")})
	chain := admission.Chain{Plugins: []any{lint, copier}}
	a := createAttrs(pod(nil, "ghcr.io/team/app:v1"))
	if err := chain.Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if err := chain.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := []string{`spec.imagePullSecrets[0].name: secret "regcred" (copied from service account "default") not found in namespace "team-a"; the node will pull without it (ImagePullBackOff likely)`}
	if got := a.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("Warnings() = %q, want %q", got, want)
	}
}

type mutatorFunc func(context.Context, *admission.Attributes) error

func (f mutatorFunc) Admit(ctx context.Context, a *admission.Attributes) error { return f(ctx, a) }
