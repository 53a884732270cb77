package keyring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// dockercfgSecret returns a kubernetes.io/dockercfg secret holding cfg.
func dockercfgSecret(name, cfg string) corev1.Secret {
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Type:       corev1.SecretTypeDockercfg,
		Data:       map[string][]byte{corev1.DockerConfigKey: []byte(cfg)},
	}
}

// jsonSecret returns a kubernetes.io/dockerconfigjson secret with one entry
// per registry key, the way `kubectl create secret docker-registry` writes it.
func jsonSecret(name string, entries map[string][2]string) corev1.Secret {
	auths := map[string]map[string]string{}
	for key, up := range entries {
		auths[key] = map[string]string{"username": up[0], "password": up[1], "auth": b64(up[0] + ":" + up[1])}
	}
	data, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		panic(err)
	}
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: data},
	}
}

func mustKeyring(t *testing.T, secrets ...corev1.Secret) *Keyring {
	t.Helper()
	k, _, err := FromSecrets(secrets)
	if err != nil {
		t.Fatalf("FromSecrets() error = %v", err)
	}
	return k
}

// userPass is what tests compare: who, from which key.
type userPass struct{ user, pass, key string }

func summarize(creds []Credential) []userPass {
	var out []userPass
	for _, c := range creds {
		out = append(out, userPass{c.Username, c.Password, c.Key})
	}
	return out
}

// Golden cases from TestDockerKeyringForGlob: a dockercfg entry holding only
// "auth" and "email" matches target + "/foo/bar".
func TestLookupGlobHit(t *testing.T) {
	tests := []struct{ key, target string }{
		{"https://hello.kubernetes.io", "hello.kubernetes.io"},
		{"https://*.docker.io", "prefix.docker.io"},
		{"https://prefix.*.io", "prefix.docker.io"},
		{"https://prefix.docker.*", "prefix.docker.io"},
		{"https://*.docker.io/path", "prefix.docker.io/path"},
		{"https://prefix.*.io/path", "prefix.docker.io/path/subpath"},
		{"https://prefix.docker.*/path", "prefix.docker.io/path"},
		{"https://*.docker.io:8888", "prefix.docker.io:8888"},
		{"https://prefix.*.io:8888", "prefix.docker.io:8888"},
		{"https://prefix.docker.*:8888", "prefix.docker.io:8888"},
		{"https://*.docker.io/path:1111", "prefix.docker.io/path:1111"},
		{"https://*.docker.io/v1/", "prefix.docker.io/path:1111"},
		{"https://*.docker.io/v2/", "prefix.docker.io/path:1111"},
		{"https://prefix.docker.*/path:1111", "prefix.docker.io/path:1111"},
		{"prefix.docker.io:1111", "prefix.docker.io:1111/path"},
		{"*.docker.io:1111", "prefix.docker.io:1111/path"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			cfg := fmt.Sprintf(`{%q: {"email": "foo@bar.baz", "auth": %q}}`, tc.key, b64("foo:bar"))
			k := mustKeyring(t, dockercfgSecret("s", cfg))
			got := k.lookupRepository(tc.target + "/foo/bar")
			if len(got) == 0 {
				t.Fatalf("lookupRepository(%q) found nothing under keys %q", tc.target+"/foo/bar", k.Keys())
			}
			if got[0].Username != "foo" || got[0].Password != "bar" {
				t.Errorf("lookupRepository(%q)[0] = %s, want user foo with password bar", tc.target, got[0])
			}
		})
	}
}

// Golden cases from TestKeyringMiss and TestKeyringMissWithDockerHubCredentials.
func TestLookupGlobMiss(t *testing.T) {
	tests := []struct{ key, target string }{
		{"https://hello.kubernetes.io", "world.mesos.org/foo/bar"},
		{"https://*.docker.com", "prefix.docker.io"},
		{"https://suffix.*.io", "prefix.docker.io"},
		{"https://prefix.docker.c*", "prefix.docker.io"},
		{"https://prefix.*.io/path:1111", "prefix.docker.io/path/subpath:1111"},
		{"suffix.*.io", "prefix.docker.io"},
		{"https://index.docker.io/v1/", "world.mesos.org/foo"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			cfg := fmt.Sprintf(`{%q: {"email": "foo@bar.baz", "auth": %q}}`, tc.key, b64("foo:bar"))
			k := mustKeyring(t, dockercfgSecret("s", cfg))
			if got := k.lookupRepository(tc.target + "/foo/bar"); got != nil {
				t.Errorf("lookupRepository(%q) = %v, want nothing", tc.target+"/foo/bar", got)
			}
		})
	}
}

// Golden cases from TestKeyringHitWith{Unqualified,UnqualifiedLibrary,Qualified}DockerHub:
// the kubectl default key reaches Docker Hub names through the fallback.
func TestLookupDockerHubFallback(t *testing.T) {
	cfg := fmt.Sprintf(`{"https://index.docker.io/v1/": {"email": "foo@bar.baz", "auth": %q}}`, b64("foo:bar"))
	k := mustKeyring(t, dockercfgSecret("s", cfg))
	want := []userPass{{"foo", "bar", "index.docker.io"}}
	for _, repo := range []string{
		"google/docker-registry",
		"jenkins",
		"index.docker.io/v1//google/docker-registry",
		"docker.io/library/nginx",
	} {
		if got := summarize(k.lookupRepository(repo)); !reflect.DeepEqual(got, want) {
			t.Errorf("lookupRepository(%q) = %v, want %v", repo, got, want)
		}
	}
	// The same through image names, which Lookup normalises first.
	for _, image := range []string{"google/docker-registry", "jenkins", "nginx:1.27", "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)} {
		got, err := k.Lookup(image)
		if err != nil || !reflect.DeepEqual(summarize(got), want) {
			t.Errorf("Lookup(%q) = %v, %v, want %v, nil", image, summarize(got), err, want)
		}
	}
}

// Golden cases from TestDockerKeyringLookup and TestIssue3797.
func TestLookupMostSpecificFirst(t *testing.T) {
	k := mustKeyring(t, jsonSecret("s", map[string][2]string{
		"bar.example.com/pong": {"grace", "squash"},
		"bar.example.com":      {"ada", "smash"},
	}))
	ada := userPass{"ada", "smash", "bar.example.com"}
	grace := userPass{"grace", "squash", "bar.example.com/pong"}
	tests := []struct {
		repo string
		want []userPass
	}{
		{"bar.example.com", []userPass{ada}},                  // direct match
		{"bar.example.com/pong", []userPass{grace, ada}},      // deeper match first
		{"bar.example.com/ping", []userPass{ada}},             // deeper key ignored
		{"bar.example.com/pongz", []userPass{grace, ada}},     // prefix of a path token
		{"bar.example.com/pong/pang", []userPass{grace, ada}}, // any sub-path
		{"example.com", nil},                                  // no host match
		{"foo.example.com", nil},
	}
	for _, tc := range tests {
		if got := summarize(k.lookupRepository(tc.repo)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("lookupRepository(%q) = %v, want %v", tc.repo, got, tc.want)
		}
	}

	rex := mustKeyring(t, jsonSecret("s", map[string][2]string{"https://quay.io/v1/": {"rex", "tiny arms"}}))
	for _, repo := range []string{"quay.io", "quay.io/foo", "quay.io/foo/bar"} {
		want := []userPass{{"rex", "tiny arms", "quay.io"}}
		if got := summarize(rex.lookupRepository(repo)); !reflect.DeepEqual(got, want) {
			t.Errorf("lookupRepository(%q) = %v, want %v", repo, got, want)
		}
	}
}

func TestLookupImages(t *testing.T) {
	k := mustKeyring(t,
		jsonSecret("first", map[string][2]string{
			"docker.io":                   {"hub", "p1"},
			"https://index.docker.io/v1/": {"index", "p2"},
			"myregistry:5000":             {"mine", "p3"},
			"quay.io/coreos":              {"coreos", "p4"},
			"*.example.com":               {"glob", "p5"},
			"a.example.com":               {"exact", "p6"},
		}),
		jsonSecret("second", map[string][2]string{
			"quay.io":         {"quay", "p7"},
			"myregistry:5000": {"mine2", "p8"},
		}),
	)
	tests := []struct {
		image string
		want  []string // usernames in order
	}{
		// "index.docker.io" is only a fallback: "docker.io" matched, so it is not used.
		{"nginx:1.27", []string{"hub"}},
		{"docker.io/library/nginx", []string{"hub"}},
		// both secrets, in secret order
		{"myregistry:5000/team/app:v1", []string{"mine", "mine2"}},
		{"myregistry:5001/team/app", nil},        // ports must be equal
		{"myregistry/team/app", []string{"hub"}}, // no '.' or ':': a Docker Hub user, not a host
		{"quay.io/coreos/etcd", []string{"coreos", "quay"}},
		{"quay.io/other/etcd", []string{"quay"}},
		{"a.example.com/app", []string{"exact", "glob"}},
		{"b.example.com/app", []string{"glob"}},
		{"example.com/app", nil},
		{"registry-1.docker.io/library/nginx", nil},
	}
	for _, tc := range tests {
		creds, err := k.Lookup(tc.image)
		if err != nil {
			t.Fatalf("Lookup(%q) error = %v", tc.image, err)
		}
		var got []string
		for _, c := range creds {
			got = append(got, c.Username)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Lookup(%q) = %q, want %q", tc.image, got, tc.want)
		}
	}
	wantKeys := []string{"quay.io/coreos", "quay.io", "myregistry:5000", "index.docker.io", "docker.io", "a.example.com", "*.example.com"}
	if got := k.Keys(); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("Keys() = %q, want %q", got, wantKeys)
	}
	if _, err := k.Lookup("not an image"); err == nil {
		t.Errorf("Lookup(%q) error = nil, want a parse error", "not an image")
	}
}

func TestEmptyKeyrings(t *testing.T) {
	var nilKeyring *Keyring
	if got, err := nilKeyring.Lookup("nginx"); got != nil || err != nil {
		t.Errorf("(*Keyring)(nil).Lookup() = %v, %v, want nil, nil", got, err)
	}
	if got := nilKeyring.Keys(); got != nil {
		t.Errorf("(*Keyring)(nil).Keys() = %v, want nil", got)
	}
	k, uses, err := FromSecrets(nil)
	if k == nil || err != nil || len(uses) != 0 {
		t.Fatalf("FromSecrets(nil) = %v, %v, %v, want an empty keyring", k, uses, err)
	}
	if got, _ := k.Lookup("nginx"); got != nil {
		t.Errorf("empty keyring Lookup() = %v, want nil", got)
	}
}

func TestDecodeAuth(t *testing.T) {
	tests := []struct {
		name       string
		auth       string
		user, pass string
		err        string
	}{
		{name: "padded", auth: "dXNlcjpwYXNzd29yZA==", user: "user", pass: "password"},
		{name: "unpadded", auth: "dXNlcjpwYXNzd29yZA", user: "user", pass: "password"},
		{name: "no padding needed", auth: "dXNlcjpwYXNz", user: "user", pass: "pass"},
		{name: "split on first colon", auth: b64("user:pa:ss:word"), user: "user", pass: "pa:ss:word"},
		{name: "harbor robot account", auth: b64("robot$proj+ci:$ecret:with:colons$"), user: "robot$proj+ci", pass: "$ecret:with:colons$"},
		{name: "empty password", auth: b64("user:"), user: "user", pass: ""},
		{name: "no colon", auth: b64("justatoken"), err: "unable to parse auth field, must be formatted as base64(username:password)"},
		{name: "not base64", auth: "bad-auth-bad", err: "illegal base64 data at input byte 3"},
		{name: "url-safe alphabet is not accepted", auth: base64.URLEncoding.EncodeToString([]byte("u:>>>?")), err: "illegal base64 data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user, pass, err := decodeAuth(tc.auth)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("decodeAuth(%q) error = %v, want %q", tc.auth, err, tc.err)
				}
				return
			}
			if err != nil || user != tc.user || pass != tc.pass {
				t.Errorf("decodeAuth(%q) = %q, %q, %v, want %q, %q, nil", tc.auth, user, pass, err, tc.user, tc.pass)
			}
		})
	}
}

func TestFromSecrets(t *testing.T) {
	id := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: name} }
	secret := func(name string, typ corev1.SecretType, data map[string]string) corev1.Secret {
		s := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Type: typ, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	good := `{"auths":{"ghcr.io":{"username":"u","password":"p"}}}`
	tests := []struct {
		name    string
		secrets []corev1.Secret
		uses    []SecretUse
		err     string // substring; "" means success
		users   []string
	}{
		{
			name:    "dockerconfigjson",
			secrets: []corev1.Secret{secret("a", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": good})},
			uses:    []SecretUse{{Secret: id("a"), Used: true, Keys: []string{"ghcr.io"}}},
			users:   []string{"u"},
		},
		{
			name:    "dockercfg",
			secrets: []corev1.Secret{secret("a", corev1.SecretTypeDockercfg, map[string]string{".dockercfg": `{"https://ghcr.io/v1/":{"auth":"` + b64("v:w") + `"}}`})},
			uses:    []SecretUse{{Secret: id("a"), Used: true, Keys: []string{"ghcr.io"}}},
			users:   []string{"v"},
		},
		{
			name:    "auth overrides username and password",
			secrets: []corev1.Secret{secret("a", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{"ghcr.io":{"username":"foo","password":"bar","auth":"dXNlcjpwYXNz"}}}`})},
			uses:    []SecretUse{{Secret: id("a"), Used: true, Keys: []string{"ghcr.io"}}},
			users:   []string{"user"},
		},
		{
			name: "opaque secret with a docker config is ignored",
			secrets: []corev1.Secret{
				secret("opaque", corev1.SecretTypeOpaque, map[string]string{".dockerconfigjson": good}),
				secret("empty-type", "", map[string]string{".dockerconfigjson": good}),
			},
			uses: []SecretUse{
				{Secret: id("opaque"), Reason: `type "Opaque" is not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`},
				{Secret: id("empty-type"), Reason: `type "" is not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`},
			},
		},
		{
			name: "wrong data key for the type is ignored",
			secrets: []corev1.Secret{
				secret("a", corev1.SecretTypeDockerConfigJson, map[string]string{".dockercfg": `{}`}),
				secret("b", corev1.SecretTypeDockercfg, map[string]string{".dockerconfigjson": good}),
				secret("c", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": ""}),
			},
			uses: []SecretUse{
				{Secret: id("a"), Reason: "missing .dockerconfigjson key"},
				{Secret: id("b"), Reason: "missing .dockercfg key"},
				{Secret: id("c"), Reason: "empty .dockerconfigjson key"},
			},
		},
		{
			name: "no auths and unparsable keys",
			secrets: []corev1.Secret{
				secret("creds-store", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"credsStore":"desktop"}`}),
				secret("bad-key", corev1.SecretTypeDockercfg, map[string]string{".dockercfg": `{"bad host":{"username":"x"},"ok.io":{"username":"y"}}`}),
			},
			uses: []SecretUse{
				{Secret: id("creds-store"), Used: true},
				{Secret: id("bad-key"), Used: true, Keys: []string{"ok.io"}, Ignored: []string{"bad host"}},
			},
			users: []string{"y"},
		},
		{
			name: "invalid JSON fails the whole keyring",
			secrets: []corev1.Secret{
				secret("fine", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": good}),
				secret("broken", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":`}),
			},
			uses: []SecretUse{
				{Secret: id("fine"), Used: true, Keys: []string{"ghcr.io"}},
				{Secret: id("broken"), Reason: "invalid JSON at byte 9: unexpected end of JSON input"},
			},
			err: "decoding pull secret ns/broken (.dockerconfigjson): invalid JSON at byte 9: unexpected end of JSON input",
		},
		{
			name: "invalid auth fails the whole keyring",
			secrets: []corev1.Secret{
				secret("broken", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{"ghcr.io":{"auth":"` + b64("nocolon") + `"}}}`}),
				secret("fine", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": good}),
			},
			uses: []SecretUse{
				{Secret: id("broken"), Reason: `entry "ghcr.io": unable to parse auth field, must be formatted as base64(username:password)`},
				{Secret: id("fine"), Used: true, Keys: []string{"ghcr.io"}},
			},
			err: `decoding pull secret ns/broken (.dockerconfigjson), entry "ghcr.io": unable to parse auth field, must be formatted as base64(username:password)`,
		},
		{
			name: "invalid base64 in a dockercfg",
			secrets: []corev1.Secret{
				secret("b64", corev1.SecretTypeDockercfg, map[string]string{".dockercfg": `{"quay.io":{"auth":"%%%%"}}`}),
			},
			uses: []SecretUse{{Secret: id("b64"), Reason: `entry "quay.io": illegal base64 data at input byte 0`}},
			err:  `decoding pull secret ns/b64 (.dockercfg), entry "quay.io": illegal base64 data at input byte 0`,
		},
		{
			name: "wrong JSON type",
			secrets: []corev1.Secret{
				secret("typed", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{"quay.io":{"username":7}}}`}),
			},
			uses: []SecretUse{{Secret: id("typed"), Reason: "invalid JSON: auths.username has the wrong type (want string)"}},
			err:  "invalid JSON: auths.username has the wrong type (want string)",
		},
		{
			name: "syntax error names the offset, not the character",
			secrets: []corev1.Secret{
				secret("syntax", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{"quay.io":{"password":"a", p}}}`}),
			},
			uses: []SecretUse{{Secret: id("syntax"), Reason: "invalid JSON at byte 38: unexpected character looking for beginning of object key string"}},
			err:  "invalid JSON at byte 38: unexpected character looking for beginning of object key string",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, uses, err := FromSecrets(tc.secrets)
			if !reflect.DeepEqual(uses, tc.uses) {
				t.Errorf("FromSecrets() uses = %+v\nwant %+v", uses, tc.uses)
			}
			if tc.err != "" {
				var se *SecretError
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &se) {
					t.Fatalf("FromSecrets() error = %v, want a *SecretError containing %q", err, tc.err)
				}
				if k != nil {
					t.Errorf("FromSecrets() keyring = %v, want nil on error", k.Keys())
				}
				return
			}
			if err != nil {
				t.Fatalf("FromSecrets() error = %v", err)
			}
			var users []string
			for _, key := range k.Keys() {
				for _, c := range k.creds[key] {
					users = append(users, c.Username)
				}
			}
			if !reflect.DeepEqual(users, tc.users) {
				t.Errorf("FromSecrets() usernames = %q, want %q", users, tc.users)
			}
		})
	}
}

func TestAuthErrorUnwrapsToKubernetesText(t *testing.T) {
	_, _, err := FromSecrets([]corev1.Secret{jsonSecretRaw(`{"auths":{"r.io":{"auth":"` + b64("x") + `"}}}`)})
	if !errors.Is(err, errAuthNoColon) {
		t.Errorf("FromSecrets() error = %v, want it to wrap %q", err, errAuthNoColon)
	}
}

func jsonSecretRaw(doc string) corev1.Secret {
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "raw"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(doc)},
	}
}
