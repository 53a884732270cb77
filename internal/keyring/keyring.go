package keyring

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth-dev/berth/internal/imageref"
)

// Keyring holds credentials indexed by normalised registry key. It is
// immutable once built and safe for concurrent use. The zero value and a nil
// *Keyring are empty keyrings.
type Keyring struct {
	index []string                // unique keys, reverse-lexicographic: most specific first
	creds map[string][]Credential // per key, in the order secrets were given
}

// SecretUse says what FromSecrets did with one secret, for `berth explain`
// and admission warnings. It never holds a value from the secret.
type SecretUse struct {
	Secret types.NamespacedName
	// Used is true when the secret's registry entries went into the keyring.
	Used bool
	// Reason says why the secret was not used, e.g.
	// `type "Opaque" is not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`,
	// "missing .dockerconfigjson key", "invalid JSON: syntax error at byte 12".
	// Empty when Used.
	Reason string
	// Keys are the normalised registry keys the secret contributed, most
	// specific first.
	Keys []string
	// Ignored are registry keys as written in the secret that do not parse
	// as a URL; the kubelet logs and skips them.
	Ignored []string
}

// FromSecrets builds the keyring the kubelet builds from a pod's pull
// secrets, in pod order, and reports per secret whether it was used.
//
// Secrets whose type is neither kubernetes.io/dockerconfigjson nor
// kubernetes.io/dockercfg, or whose data key for that type is missing or
// empty, are skipped without error. A used secret with invalid JSON or an
// invalid "auth" fails the whole keyring, as in Kubernetes: the keyring is
// nil and the error (a *SecretError) is the first such secret's; the uses
// still describe every secret. When no secret is usable the keyring is empty,
// not nil.
func FromSecrets(secrets []corev1.Secret) (*Keyring, []SecretUse, error) {
	k := &Keyring{creds: map[string][]Credential{}}
	uses := make([]SecretUse, 0, len(secrets))
	var firstErr error
	for i := range secrets {
		s := &secrets[i]
		use := SecretUse{Secret: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}}
		entries, used, reason, err := dockerConfig(s)
		use.Used, use.Reason = used, reason
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if used {
			use.Keys, use.Ignored = k.add(use.Secret, entries)
		}
		uses = append(uses, use)
	}
	if firstErr != nil {
		return nil, uses, firstErr
	}
	k.sortIndex()
	return k, uses, nil
}

// add stores one secret's entries and returns the keys it contributed and
// the raw keys it had to skip.
func (k *Keyring) add(src types.NamespacedName, entries map[string]entry) (keys, ignored []string) {
	seen := map[string]bool{}
	for _, loc := range sortedKeys(entries) {
		key, err := NormalizeKey(loc)
		if err != nil {
			ignored = append(ignored, loc)
			continue
		}
		e := entries[loc]
		k.creds[key] = append(k.creds[key], Credential{
			Username: e.Username,
			Password: e.Password,
			Source:   src,
			Key:      key,
		})
		if !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	return keys, ignored
}

func (k *Keyring) sortIndex() {
	k.index = k.index[:0]
	for key := range k.creds {
		k.index = append(k.index, key)
	}
	// Reverse order puts "quay.io/coreos" before "quay.io" and
	// "a.example.com" before "*.example.com".
	sort.Sort(sort.Reverse(sort.StringSlice(k.index)))
}

// Lookup returns every credential that applies to image, in the order the
// kubelet tries them: keys most specific first, and within a key in secret
// order. The image is normalised first ("nginx" is looked up as
// "docker.io/library/nginx"); tag and digest are ignored. Credentials under
// "index.docker.io" are returned for Docker Hub images only when no other key
// matched. No match returns nil: the kubelet then pulls anonymously.
func (k *Keyring) Lookup(image string) ([]Credential, error) {
	ref, err := imageref.Parse(image)
	if err != nil {
		return nil, fmt.Errorf("looking up credentials: %w", err)
	}
	return k.lookupRepository(ref.Repository()), nil
}

// lookupRepository matches an already normalised repository name; it is
// BasicDockerKeyring.Lookup.
func (k *Keyring) lookupRepository(repo string) []Credential {
	if k == nil {
		return nil
	}
	var out []Credential
	for _, key := range k.index {
		if urlsMatch(key, repo) {
			out = append(out, k.creds[key]...)
		}
	}
	if len(out) > 0 {
		return out
	}
	if isDefaultRegistryMatch(repo) {
		if c := k.creds[dockerHubKey]; len(c) > 0 {
			return append([]Credential(nil), c...)
		}
	}
	return nil
}

// Keys returns the keyring's normalised registry keys, most specific first.
func (k *Keyring) Keys() []string {
	if k == nil {
		return nil
	}
	return append([]string(nil), k.index...)
}
