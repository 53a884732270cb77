package images

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/keyring"
)

// SecretGetter reads one secret. The manager only ever asks for the pod's
// own namespace.
type SecretGetter interface {
	Get(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// SecretGetterFunc adapts a function to SecretGetter.
type SecretGetterFunc func(ctx context.Context, namespace, name string) (*corev1.Secret, error)

// Get calls f.
func (f SecretGetterFunc) Get(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return f(ctx, namespace, name)
}

// SecretsFromClient reads secrets with live GETs through client.
func SecretsFromClient(client kubernetes.Interface) SecretGetter {
	return SecretGetterFunc(func(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
		return client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	})
}

// credential is a keyring credential with the UID of its secret, which the
// pull records key on.
type credential struct {
	keyring.Credential
	uid types.UID
}

// authConfig is what the kubelet sends to the CRI for a credential.
func (c *credential) authConfig() *runtimeapi.AuthConfig {
	return &runtimeapi.AuthConfig{
		Username:      c.Username,
		Password:      c.Password,
		Auth:          c.Auth,
		ServerAddress: c.ServerAddress,
		IdentityToken: c.IdentityToken,
		RegistryToken: c.RegistryToken,
	}
}

// hash is the hex SHA-256 of the credential's JSON, as the kubelet's
// hashAuthConfig: equal for two secrets holding the same login.
func (c *credential) hash() string {
	b, err := json.Marshal(struct {
		Username      string `json:"username,omitempty"`
		Password      string `json:"password,omitempty"`
		Auth          string `json:"auth,omitempty"`
		ServerAddress string `json:"serveraddress,omitempty"`
		IdentityToken string `json:"identitytoken,omitempty"`
		RegistryToken string `json:"registrytoken,omitempty"`
	}{c.Username, c.Password, c.Auth, c.ServerAddress, c.IdentityToken, c.RegistryToken})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// pullSecret is the record entry of this credential.
func (c *credential) pullSecret() ImagePullSecret {
	return ImagePullSecret{UID: string(c.uid), Namespace: c.Source.Namespace, Name: c.Source.Name, CredentialHash: c.hash()}
}

// pulledCredentials is what a successful pull with c records; a nil c (an
// anonymous pull) makes the image usable by every pod on the node.
func (c *credential) pulledCredentials() *ImagePullCredentials {
	if c == nil {
		return &ImagePullCredentials{NodePodsAccessible: true}
	}
	return &ImagePullCredentials{KubernetesSecrets: []ImagePullSecret{c.pullSecret()}}
}

// describe names a credential by its registry key and secret, "for
// ghcr.io from secret ns/name": never its user name, which some
// registries make a token.
func (c *credential) describe() string {
	return fmt.Sprintf("for %s from secret %s", c.Key, c.Source)
}

// podCredentials is what the pod's pull secrets give for one image.
type podCredentials struct {
	reports []SecretReport
	missing []string // names of secrets that could not be read
	ignored []string // names of secrets skipped for their type or data
	keys    []string // every keyring key, most specific first
	matched []credential
	values  []string // every credential value sent, to scrub from texts
}

// podCredentials reads the pod's pull secrets from its namespace, builds the
// keyring and looks the image up. The reports are filled even on error.
func (m *Manager) podCredentials(ctx context.Context, pod *corev1.Pod, image string) (*podCredentials, error) {
	pc := &podCredentials{}
	var secrets []corev1.Secret
	var reportIdx []int // index in pc.reports of each fetched secret
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		rep := SecretReport{Namespace: pod.Namespace, Name: ref.Name, Source: "pod spec"}
		s, err := m.getSecret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			rep.Reason = err.Error()
			pc.missing = append(pc.missing, ref.Name)
			pc.reports = append(pc.reports, rep)
			continue
		}
		reportIdx = append(reportIdx, len(pc.reports))
		pc.reports = append(pc.reports, rep)
		secrets = append(secrets, *s)
	}
	kr, uses, kerr := keyring.FromSecrets(secrets)
	uids := map[types.NamespacedName]types.UID{}
	for i, s := range secrets {
		uids[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s.UID
		if i >= len(uses) {
			continue
		}
		rep := &pc.reports[reportIdx[i]]
		rep.Used, rep.Reason, rep.Keys = uses[i].Used, uses[i].Reason, uses[i].Keys
		if len(uses[i].Ignored) > 0 {
			rep.Reason = strings.TrimPrefix(rep.Reason+"; ", "; ") + "registry keys that do not parse were skipped: " + strings.Join(uses[i].Ignored, ", ")
		}
		if !uses[i].Used {
			pc.ignored = append(pc.ignored, s.Name)
		}
	}
	if kerr != nil {
		return pc, kerr
	}
	pc.keys = kr.Keys()
	creds, err := kr.Lookup(image)
	if err != nil {
		return pc, err
	}
	for _, c := range creds {
		pc.matched = append(pc.matched, credential{Credential: c, uid: uids[c.Source]})
		pc.values = append(pc.values, secretValues(c)...)
	}
	return pc, nil
}

// getSecret reads one pull secret and words a failure for people.
func (m *Manager) getSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if m.secrets == nil {
		return nil, errors.New("the agent has no access to secrets")
	}
	s, err := m.secrets.Get(ctx, namespace, name)
	switch {
	case apierrors.IsNotFound(err) || (err == nil && s == nil):
		return nil, fmt.Errorf("not found in namespace %s", namespace)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("the agent may not read it: %v", err)
	case err != nil:
		return nil, fmt.Errorf("could not be read: %v", err)
	}
	return s, nil
}

// pullSecrets are the pod's secret credentials for the image, as
// MustAttemptImagePull compares them with the records.
func (pc *podCredentials) pullSecrets() []ImagePullSecret {
	out := make([]ImagePullSecret, 0, len(pc.matched))
	for i := range pc.matched {
		out = append(out, pc.matched[i].pullSecret())
	}
	return out
}

// matchedKeys are the keyring keys that matched, in the order tried.
func (pc *podCredentials) matchedKeys() []string {
	if pc == nil {
		return nil
	}
	var out []string
	for _, c := range pc.matched {
		if len(out) == 0 || out[len(out)-1] != c.Key {
			out = append(out, c.Key)
		}
	}
	return out
}

// scrub returns err with every credential value of the pod replaced by
// "<redacted>". Registries do not echo passwords, but berth never relies on it.
func (pc *podCredentials) scrub(err error) error {
	if err == nil {
		return nil
	}
	text := scrubText(err.Error(), pc.values)
	if text == err.Error() {
		return err
	}
	if ce, ok := err.(*cri.Error); ok {
		return cri.NewError(ce.Code, scrubText(ce.Message, pc.values))
	}
	return errors.New(text)
}

func scrubText(text string, values []string) string {
	for _, v := range values {
		// Very short values would mangle the text; they are not worth hiding.
		if len(v) >= 4 {
			text = strings.ReplaceAll(text, v, "<redacted>")
		}
	}
	return text
}

// secretValues are the parts of a credential that must never be shown.
func secretValues(c keyring.Credential) []string {
	var out []string
	for _, v := range []string{c.Password, c.Auth, c.IdentityToken, c.RegistryToken} {
		if v != "" {
			out = append(out, v)
		}
	}
	if c.Password != "" {
		up := c.Username + ":" + c.Password
		out = append(out, base64.StdEncoding.EncodeToString([]byte(up)), base64.RawStdEncoding.EncodeToString([]byte(up)))
	}
	return out
}

// aggregate prints one error as itself and several as "[e1, e2]" (duplicates
// once), as the kubelet's utilerrors.NewAggregate.
func aggregate(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return utilerrors.NewAggregate(errs)
}
