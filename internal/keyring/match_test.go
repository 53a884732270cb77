package keyring

import "testing"

// Golden cases from kubernetes/kubernetes pkg/credentialprovider/keyring_test.go
// (TestUrlsMatch).
func TestURLsMatch(t *testing.T) {
	tests := []struct {
		key, target string
		want        bool
	}{
		// no path component
		{"*.kubernetes.io", "prefix.kubernetes.io", true},
		{"prefix.*.io", "prefix.kubernetes.io", true},
		{"prefix.kubernetes.*", "prefix.kubernetes.io", true},
		{"*-good.kubernetes.io", "prefix-good.kubernetes.io", true},
		// path components
		{"*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true},
		{"prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true},
		// paths and ports
		{"*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", true},
		{"prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", true},
		// label counts differ
		{"*.kubernetes.io", "kubernetes.io", false},
		{"*.*.kubernetes.io", "prefix.kubernetes.io", false},
		{"*.*.kubernetes.io", "kubernetes.io", false},
		// some label differs
		{"kubernetes.io", "kubernetes.com", false},
		{"k*.io", "quay.io", false},
		// ports differ
		{"*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", false},
		{"prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", false},

		// §4.5 of the reference, beyond the upstream table
		{"myregistry", "myregistry:5000/x", false},
		{"myregistry:5000", "myregistry/x", false},
		{"*.example.com", "a.b.example.com/x", false},
		{"reg-*.example.com", "reg-eu.example.com/team/app", true},
		// filepath.Match classes would work inside a label, but url.Parse
		// rejects '[' in a host name, so Kubernetes never matches such a key.
		{"reg-[a-f].example.com", "reg-e.example.com/app", false},
		{"reg-?.example.com", "reg-eu.example.com/app", false},
		{"registry.io/pa", "registry.io/path/img", true}, // plain string prefix
		{"registry.io/path/prefix", "registry.io/path/prefixed", true},
		{"docker.io", "docker.io/library/nginx", true},
		{"index.docker.io", "docker.io/library/nginx", false},
		{"registry-1.docker.io", "docker.io/library/nginx", false},
		{"[::1]:5000", "[::1]:5000/team/app", true},
		{"[::1]:5000", "[::1]:5001/team/app", false},
	}
	for _, tc := range tests {
		if got := urlsMatch(tc.key, tc.target); got != tc.want {
			t.Errorf("urlsMatch(%q, %q) = %t, want %t", tc.key, tc.target, got, tc.want)
		}
	}
}

// Golden cases from TestIsDefaultRegistryMatch.
func TestIsDefaultRegistryMatch(t *testing.T) {
	tests := []struct {
		image string
		want  bool
	}{
		{"foo/bar", true},
		{"docker.io/foo/bar", true},
		{"index.docker.io/foo/bar", true},
		{"foo", true},
		{"", false},
		{"registry.tld/foo/bar", false},
		{"registry:5000/foo/bar", false},
		{"myhostdocker.io/foo/bar", false},
	}
	for _, tc := range tests {
		if got := isDefaultRegistryMatch(tc.image); got != tc.want {
			t.Errorf("isDefaultRegistryMatch(%q) = %t, want %t", tc.image, got, tc.want)
		}
	}
}

// The table of §4.4 of the reference.
func TestNormalizeKey(t *testing.T) {
	tests := []struct {
		loc, want string
	}{
		{"https://index.docker.io/v1/", "index.docker.io"},
		{"index.docker.io", "index.docker.io"},
		{"docker.io", "docker.io"},
		{"myregistry:5000", "myregistry:5000"},
		{"http://myregistry:5000/v2/", "myregistry:5000"},
		{"*.example.com", "*.example.com"},
		{"registry.io/path/prefix", "registry.io/path/prefix"},
		{"registry.io/path/", "registry.io/path/"},
		{"https://quay.io/v1/", "quay.io"},
		{"https://registry.io/v1/foo", "registry.io/foo"},
		{"https://registry.io/v2", "registry.io/v2"}, // no trailing slash: not the /v2/ suffix
		{"https://ghcr.io", "ghcr.io"},
		{"https://ghcr.io/", "ghcr.io"},
	}
	for _, tc := range tests {
		got, err := NormalizeKey(tc.loc)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeKey(%q) = %q, %v, want %q, nil", tc.loc, got, err, tc.want)
		}
	}
	if got, err := NormalizeKey("bad host name"); err == nil {
		t.Errorf("NormalizeKey(%q) = %q, nil, want an error", "bad host name", got)
	}
}
