package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func secret(typ corev1.SecretType, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default", ResourceVersion: "1"}, Type: typ}
	if data != nil {
		s.Data = map[string][]byte{}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
	}
	return s
}

func TestValidateSecret(t *testing.T) {
	tests := []struct {
		name   string
		secret *corev1.Secret
		want   []want
	}{
		{"opaque", secret(corev1.SecretTypeOpaque, map[string]string{"a": "1", "b.txt": "2", "_c-d": "3"}), nil},
		{"custom type", secret("example.com/thing", map[string]string{"x": "1"}), nil},
		{"bad key", secret(corev1.SecretTypeOpaque, map[string]string{"a/b": "1"}), []want{inv("data[a/b]", "a valid config key must consist of alphanumeric characters, '-', '_' or '.'")}},
		{"bad name", func() *corev1.Secret { s := secret(corev1.SecretTypeOpaque, nil); s.Name = "S"; return s }(), []want{inv("metadata.name", "RFC 1123 subdomain")}},
		{"too large", secret(corev1.SecretTypeOpaque, map[string]string{"a": strings.Repeat("x", corev1.MaxSecretSize), "b": "y"}),
			[]want{{typ: "FieldValueTooLong", field: "data", detail: "may not be more than 1048576 bytes"}}},
		{"exactly 1 MiB", secret(corev1.SecretTypeOpaque, map[string]string{"a": strings.Repeat("x", corev1.MaxSecretSize)}), nil},
		{"dockerconfigjson", secret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{"r.example.com":{"auth":"dTpw"}}}`}), nil},
		{"dockerconfigjson missing key", secret(corev1.SecretTypeDockerConfigJson, map[string]string{"config.json": "{}"}), []want{req("data[.dockerconfigjson]")}},
		{"dockerconfigjson not JSON", secret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": "{auths"}),
			[]want{inv("data[.dockerconfigjson]", "invalid character")}},
		{"dockerconfigjson not an object", secret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `["a"]`}),
			[]want{inv("data[.dockerconfigjson]", "cannot unmarshal array")}},
		{"dockercfg", secret(corev1.SecretTypeDockercfg, map[string]string{".dockercfg": `{"r.example.com":{"auth":"dTpw"}}`}), nil},
		{"dockercfg missing key", secret(corev1.SecretTypeDockercfg, nil), []want{req("data[.dockercfg]")}},
		{"dockercfg not JSON", secret(corev1.SecretTypeDockercfg, map[string]string{".dockercfg": "nope"}), []want{inv("data[.dockercfg]", "invalid character")}},
		{"basic-auth username only", secret(corev1.SecretTypeBasicAuth, map[string]string{"username": "u"}), nil},
		{"basic-auth empty password only", secret(corev1.SecretTypeBasicAuth, map[string]string{"password": ""}), nil},
		{"basic-auth neither", secret(corev1.SecretTypeBasicAuth, map[string]string{"user": "u"}), []want{req("data[username]"), req("data[password]")}},
		{"ssh-auth", secret(corev1.SecretTypeSSHAuth, map[string]string{"ssh-privatekey": "k"}), nil},
		{"ssh-auth empty key", secret(corev1.SecretTypeSSHAuth, map[string]string{"ssh-privatekey": ""}), []want{req("data[ssh-privatekey]")}},
		{"tls", secret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c", "tls.key": "k"}), nil},
		{"tls missing both", secret(corev1.SecretTypeTLS, nil), []want{req("data[tls.crt]"), req("data[tls.key]")}},
		{"service-account-token without owner", secret(corev1.SecretTypeServiceAccountToken, nil),
			[]want{req("metadata.annotations[kubernetes.io/service-account.name]")}},
		{"service-account-token", func() *corev1.Secret {
			s := secret(corev1.SecretTypeServiceAccountToken, nil)
			s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
			return s
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateSecret(tt.secret), tt.want...)
		})
	}
}

// TestValidateSecretNeverLeaksValues feeds secrets whose values are wrong in
// every way validation looks at and checks that neither the errors nor the
// status error a client receives contain any of the values.
func TestValidateSecretNeverLeaksValues(t *testing.T) {
	const pw = "hunter2-SuperSecret-Value"
	big := pw + strings.Repeat("Z", corev1.MaxSecretSize)
	secrets := []*corev1.Secret{
		secret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": pw}),
		secret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{"x":{"password":"` + pw + `"}`}),
		secret(corev1.SecretTypeDockercfg, map[string]string{".dockercfg": "{" + pw}),
		secret(corev1.SecretTypeOpaque, map[string]string{"big": big, "bad key!": pw}),
		secret(corev1.SecretTypeTLS, map[string]string{"tls.key": pw}),
		secret(corev1.SecretTypeBasicAuth, map[string]string{"token": pw}),
	}
	for i, s := range secrets {
		errs := ValidateSecret(s)
		if len(errs) == 0 {
			t.Fatalf("secret %d: expected errors", i)
		}
		for _, e := range errs {
			if msg := e.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "SuperSecret") {
				t.Errorf("secret %d: error reveals the value: %s", i, msg)
			}
		}
		status := ToInvalidError(schema.GroupKind{Kind: "Secret"}, s.Name, errs)
		if strings.Contains(status.Error(), "hunter2") {
			t.Errorf("secret %d: status reveals the value: %s", i, status)
		}
		for _, e := range errs {
			if e.Field == "data[.dockerconfigjson]" || e.Field == "data[.dockercfg]" {
				if e.BadValue != "<secret contents redacted>" {
					t.Errorf("secret %d: bad value %v, want redacted", i, e.BadValue)
				}
			}
		}
	}
}

func TestValidateSecretUpdate(t *testing.T) {
	immutable := func(s *corev1.Secret) *corev1.Secret { s.Immutable = ptrTo(true); return s }
	tests := []struct {
		name     string
		old, new *corev1.Secret
		want     []want
		wantType corev1.SecretType
	}{
		{"data changes", secret(corev1.SecretTypeOpaque, map[string]string{"a": "1"}), secret(corev1.SecretTypeOpaque, map[string]string{"a": "2"}), nil, corev1.SecretTypeOpaque},
		{"type changes", secret(corev1.SecretTypeOpaque, nil), secret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c", "tls.key": "k"}),
			[]want{inv("type", "field is immutable")}, corev1.SecretTypeTLS},
		{"type omitted keeps old", secret(corev1.SecretTypeBasicAuth, map[string]string{"username": "u"}), secret("", map[string]string{"username": "v"}), nil, corev1.SecretTypeBasicAuth},
		{"immutable data", immutable(secret(corev1.SecretTypeOpaque, map[string]string{"a": "1"})), immutable(secret(corev1.SecretTypeOpaque, map[string]string{"a": "2"})),
			[]want{forb("data", "field is immutable when `immutable` is set")}, corev1.SecretTypeOpaque},
		{"immutable unset", immutable(secret(corev1.SecretTypeOpaque, nil)), secret(corev1.SecretTypeOpaque, nil),
			[]want{forb("immutable", "field is immutable when `immutable` is set")}, corev1.SecretTypeOpaque},
		{"becoming immutable", secret(corev1.SecretTypeOpaque, nil), immutable(secret(corev1.SecretTypeOpaque, nil)), nil, corev1.SecretTypeOpaque},
		{"immutable metadata may change", immutable(secret(corev1.SecretTypeOpaque, nil)),
			func() *corev1.Secret {
				s := immutable(secret(corev1.SecretTypeOpaque, nil))
				s.Labels = map[string]string{"a": "b"}
				return s
			}(), nil, corev1.SecretTypeOpaque},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateSecretUpdate(tt.new, tt.old), tt.want...)
			if tt.new.Type != tt.wantType {
				t.Errorf("type after update = %q, want %q", tt.new.Type, tt.wantType)
			}
		})
	}
}

func configMap(data map[string]string, binary map[string][]byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default", ResourceVersion: "1"}, Data: data, BinaryData: binary}
}

func TestValidateConfigMap(t *testing.T) {
	tests := []struct {
		name string
		cm   *corev1.ConfigMap
		want []want
	}{
		{"valid", configMap(map[string]string{"app.properties": "a=b"}, map[string][]byte{"logo.png": {1, 2}}), nil},
		{"empty", configMap(map[string]string{}, nil), nil},
		{"bad key", configMap(map[string]string{"a b": "x"}, nil), []want{inv("data[a b]", "a valid config key")}},
		{"bad binary key", configMap(nil, map[string][]byte{"..": {1}}), []want{inv("binaryData[..]", "must not be '..'")}},
		{"key in both", configMap(map[string]string{"k": "x"}, map[string][]byte{"k": {1}}), []want{inv("data[k]", "duplicate of key present in binaryData")}},
		{"too large", configMap(map[string]string{"a": strings.Repeat("x", corev1.MaxSecretSize)}, map[string][]byte{"b": {1}}),
			[]want{tooLong("[]")}}, // Kubernetes prints the empty path as "[]"
		{"no namespace", func() *corev1.ConfigMap { c := configMap(nil, nil); c.Namespace = ""; return c }(), []want{req("metadata.namespace")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateConfigMap(tt.cm), tt.want...)
		})
	}
}

func TestValidateConfigMapUpdate(t *testing.T) {
	imm := func(c *corev1.ConfigMap) *corev1.ConfigMap { c.Immutable = ptrTo(true); return c }
	tests := []struct {
		name     string
		old, new *corev1.ConfigMap
		want     []want
	}{
		{"mutable change", configMap(map[string]string{"a": "1"}, nil), configMap(map[string]string{"a": "2"}, nil), nil},
		{"immutable data", imm(configMap(map[string]string{"a": "1"}, nil)), imm(configMap(map[string]string{"a": "2"}, nil)),
			[]want{forb("data", "field is immutable when `immutable` is set")}},
		{"immutable binaryData", imm(configMap(nil, map[string][]byte{"a": {1}})), imm(configMap(nil, map[string][]byte{"a": {2}})),
			[]want{forb("binaryData", "field is immutable when `immutable` is set")}},
		{"immutable unset", imm(configMap(nil, nil)), configMap(nil, nil), []want{forb("immutable", "field is immutable when `immutable` is set")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateConfigMapUpdate(tt.new, tt.old), tt.want...)
		})
	}
}
