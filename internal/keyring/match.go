package keyring

import (
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// dockerHubKey is the key "https://index.docker.io/v1/" (kubectl's default
// --docker-server) normalises to. It never matches a normalised Docker Hub
// name through urlsMatch (three labels against "docker.io"'s two); it is
// used only as a fallback, as in Kubernetes.
const dockerHubKey = "index.docker.io"

// NormalizeKey turns a registry key as written in a docker config into the
// key the keyring stores, as BasicDockerKeyring.Add does: a missing scheme is
// taken as https, the scheme is dropped, a path starting with /v1/ or /v2/
// loses those three characters, and a path of "" or "/" leaves the host (with
// its port) alone. "https://index.docker.io/v1/" becomes "index.docker.io";
// "registry.io/path/" stays "registry.io/path/". Keys that do not parse as a
// URL return an error and are skipped by FromSecrets, as by the kubelet.
func NormalizeKey(loc string) (string, error) {
	value := loc
	if !strings.HasPrefix(value, "https://") && !strings.HasPrefix(value, "http://") {
		value = "https://" + value
	}
	parsed, err := url.Parse(value)
	if err != nil {
		return "", err
	}
	path := parsed.Path
	if strings.HasPrefix(path, "/v2/") || strings.HasPrefix(path, "/v1/") {
		path = path[3:]
	}
	if path != "" && path != "/" {
		return parsed.Host + path, nil
	}
	return parsed.Host, nil
}

// urlsMatch reports whether target (a normalised repository such as
// "docker.io/library/nginx") falls under key, which may hold globs in its
// host labels: ports must be equal, the hosts must have the same number of
// dot-separated labels, each label must filepath.Match, and the key's path
// must be a plain string prefix of the target's. Mirrors URLsMatchStr.
func urlsMatch(key, target string) bool {
	k, err := parseSchemeless(key)
	if err != nil {
		return false
	}
	t, err := parseSchemeless(target)
	if err != nil {
		return false
	}
	kLabels, kPort := splitHost(k.Host)
	tLabels, tPort := splitHost(t.Host)
	if kPort != tPort || len(kLabels) != len(tLabels) {
		return false
	}
	if !strings.HasPrefix(t.Path, k.Path) {
		return false
	}
	for i := range kLabels {
		ok, err := filepath.Match(kLabels[i], tLabels[i])
		if err != nil || !ok {
			return false
		}
	}
	return true
}

func parseSchemeless(s string) (*url.URL, error) {
	u, err := url.Parse("https://" + s)
	if err != nil {
		return nil, err
	}
	u.Scheme = ""
	return u, nil
}

// splitHost splits "a.b.c:5000" into its labels and port; a host without a
// port (or one net.SplitHostPort rejects) has port "".
func splitHost(hostport string) (labels []string, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	return strings.Split(host, "."), port
}

// isDefaultRegistryMatch reports whether image names Docker Hub: a single
// path component, a first component "docker.io" or "index.docker.io", or a
// first component without '.' or ':' (a user name, not a host).
func isDefaultRegistryMatch(image string) bool {
	first, _, found := strings.Cut(image, "/")
	if first == "" {
		return false
	}
	if !found {
		return true
	}
	if first == "docker.io" || first == "index.docker.io" {
		return true
	}
	return !strings.ContainsAny(first, ".:")
}
