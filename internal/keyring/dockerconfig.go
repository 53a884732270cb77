package keyring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// errAuthNoColon is Kubernetes' text for an "auth" that decodes to something
// without a ':' (pkg/credentialprovider/config.go, decodeDockerConfigFieldAuth).
var errAuthNoColon = errors.New("unable to parse auth field, must be formatted as base64(username:password)")

// SecretError reports a pull secret whose docker config cannot be decoded. It
// names the secret, the data key and the registry entry, never a value.
type SecretError struct {
	Secret  types.NamespacedName
	DataKey string // ".dockerconfigjson" or ".dockercfg"
	Entry   string // registry key of the bad entry; "" when the document itself is invalid
	// Err is the cause, with Kubernetes' wording where it has one (e.g.
	// "unable to parse auth field, must be formatted as base64(username:password)").
	// JSON errors are rewritten so that no byte of the secret appears.
	Err error
}

// Error reads `decoding pull secret ns/name (.dockerconfigjson), entry "ghcr.io": <cause>`.
func (e *SecretError) Error() string {
	s := fmt.Sprintf("decoding pull secret %s (%s)", e.Secret, e.DataKey)
	if e.Entry != "" {
		s += fmt.Sprintf(", entry %q", e.Entry)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *SecretError) Unwrap() error { return e.Err }

// entry is one registry entry as Kubernetes reads it. encoding/json matches
// field names case-insensitively, as it does for Kubernetes' own struct.
type entry struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// configJSON is the .dockerconfigjson document; other top-level keys
// (HttpHeaders, credsStore, ...) are ignored, as the kubelet ignores them.
type configJSON struct {
	Auths map[string]entry `json:"auths"`
}

// dockerConfig extracts the registry entries of one secret, following
// secretsToTrackedDockerConfigs: the type decides which data key is read, and
// a missing or empty key makes the secret unused rather than invalid.
// It returns used=false with a reason for secrets the kubelet ignores.
func dockerConfig(s *corev1.Secret) (entries map[string]entry, used bool, reason string, err error) {
	id := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	var dataKey string
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		dataKey = corev1.DockerConfigJsonKey
	case corev1.SecretTypeDockercfg:
		dataKey = corev1.DockerConfigKey
	default:
		return nil, false, fmt.Sprintf("type %q is not %s or %s", s.Type, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg), nil
	}
	data, ok := s.Data[dataKey]
	if !ok {
		return nil, false, "missing " + dataKey + " key", nil
	}
	if len(data) == 0 {
		return nil, false, "empty " + dataKey + " key", nil
	}
	if dataKey == corev1.DockerConfigJsonKey {
		var doc configJSON
		err = json.Unmarshal(data, &doc)
		entries = doc.Auths
	} else {
		err = json.Unmarshal(data, &entries)
	}
	if err != nil {
		cause := sanitizeJSONError(err)
		return nil, false, cause.Error(), &SecretError{Secret: id, DataKey: dataKey, Err: cause}
	}
	// Decode "auth" in key order so that, of several bad entries, the same one
	// is reported every time.
	for _, loc := range sortedKeys(entries) {
		e := entries[loc]
		if e.Auth == "" {
			continue
		}
		user, pass, aerr := decodeAuth(e.Auth)
		if aerr != nil {
			return nil, false, fmt.Sprintf("entry %q: %v", loc, aerr), &SecretError{Secret: id, DataKey: dataKey, Entry: loc, Err: aerr}
		}
		e.Username, e.Password = user, pass
		entries[loc] = e
	}
	return entries, true, "", nil
}

// decodeAuth splits base64("user:password"). Like Kubernetes it picks padded
// or unpadded standard base64 by whether the trimmed text ends in '=', and
// splits on the first ':' so that passwords may contain ':'.
func decodeAuth(auth string) (user, pass string, err error) {
	var decoded []byte
	if strings.HasSuffix(strings.TrimSpace(auth), "=") {
		decoded, err = base64.StdEncoding.DecodeString(auth)
	} else {
		decoded, err = base64.RawStdEncoding.DecodeString(auth)
	}
	if err != nil {
		// base64.CorruptInputError says only the offset; safe to show.
		return "", "", err
	}
	user, pass, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return "", "", errAuthNoColon
	}
	return user, pass, nil
}

// sanitizeJSONError describes a decode error without quoting the input:
// json.SyntaxError names the offending character and UnmarshalTypeError may
// carry a number from the document, either of which can be part of a password.
func sanitizeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte %d: %s", syn.Offset, describeSyntax(syn.Error()))
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "the document"
		}
		want := "another type"
		if typ.Type != nil {
			want = typ.Type.String()
		}
		return fmt.Errorf("invalid JSON: %s has the wrong type (want %s)", where, want)
	default:
		// io.ErrUnexpectedEOF and friends carry no input bytes.
		return fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// describeSyntax drops the quoted character from encoding/json's
// "invalid character 'x' looking for beginning of value".
func describeSyntax(msg string) string {
	rest, ok := strings.CutPrefix(msg, "invalid character ")
	if !ok {
		return msg // e.g. "unexpected end of JSON input"
	}
	if len(rest) > 1 {
		if i := strings.Index(rest[1:], "' "); i >= 0 {
			return "unexpected character " + rest[i+3:]
		}
	}
	return "unexpected character"
}

func sortedKeys(m map[string]entry) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
