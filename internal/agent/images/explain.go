package images

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/berth-dev/berth/internal/imageref"
)

// PullAttempt is what one EnsureImage did and why, for `berth explain pull`.
// It never holds a password, auth or token.
type PullAttempt struct {
	Pod       string `json:"pod"` // namespace/name
	PodUID    string `json:"podUID"`
	Container string `json:"container"`
	// Image is the container's image as written; Normalized is its full
	// form (docker.io/library/busybox:latest).
	Image      string `json:"image"`
	Normalized string `json:"normalized,omitempty"`
	Policy     string `json:"policy"`
	// PolicySource is where the pull policy most likely came from.
	PolicySource       string `json:"policySource,omitempty"`
	VerificationPolicy string `json:"verificationPolicy"`
	// Present is whether the runtime had the image (never asked under Always).
	Present  bool   `json:"present"`
	ImageRef string `json:"imageRef,omitempty"`
	// Decision is what the manager did and why, in words.
	Decision string         `json:"decision"`
	Secrets  []SecretReport `json:"secrets,omitempty"`
	// Matched are the keyring keys that matched the image, in the order
	// their credentials were tried.
	Matched  []string        `json:"matched,omitempty"`
	Attempts []AttemptReport `json:"attempts,omitempty"`
	// Reason and Message are the waiting reason and message on failure.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Verdict is one plain sentence: the outcome and, on failure, its
	// classified cause.
	Verdict string    `json:"verdict"`
	Time    time.Time `json:"time"`
}

// SecretReport is one of the pod's pull secrets.
type SecretReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Source    string `json:"source"` // "pod spec"
	// Used: its registry entries went into the keyring.
	Used bool `json:"used"`
	// Reason says why it was not used (not found, wrong type, …).
	Reason string `json:"reason,omitempty"`
	// Keys are the normalised registry keys it holds.
	Keys []string `json:"keys,omitempty"`
}

// AttemptReport is one CRI pull.
type AttemptReport struct {
	// CredentialKey is the keyring key of the credential sent; empty for an
	// anonymous pull.
	CredentialKey string `json:"credentialKey,omitempty"`
	Secret        string `json:"secret,omitempty"` // namespace/name
	// (No user name: some registries use a token as the user name.)
	Result string `json:"result"` // "success" or "failed"
	Error  string `json:"error,omitempty"`
	// Class is the registry's answer, classified: unauthorized, forbidden,
	// denied, not-found, rate-limited, tls, http-on-https, dns, unreachable,
	// timeout, registry-unavailable, signature or other.
	Class    string        `json:"class,omitempty"`
	Duration time.Duration `json:"duration"`
}

func explainKey(podUID types.UID, container string) string {
	return string(podUID) + "_" + container
}

func explainDir(dataDir string) string {
	return filepath.Join(dataDir, "image_manager", "explain")
}

func explainPath(dataDir string, podUID, container string) string {
	return filepath.Join(explainDir(dataDir), safeName(podUID)+"_"+safeName(container)+".json")
}

// safeName keeps a path element inside the explain directory.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, strings.ReplaceAll(s, "..", "__"))
}

// LoadExplain reads the last PullAttempt of a container; dataDir is the
// manager's Config.DataDir.
func LoadExplain(dataDir string, podUID, container string) (*PullAttempt, error) {
	var a PullAttempt
	if err := readJSON(explainPath(dataDir, podUID, container), &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// keepExplain stores the attempt in memory and on disk.
func (m *Manager) keepExplain(a *PullAttempt) {
	m.mu.Lock()
	m.explain[explainKey(types.UID(a.PodUID), a.Container)] = a.clone()
	m.mu.Unlock()
	if err := writeJSON(explainPath(m.dataDir, a.PodUID, a.Container), a); err != nil {
		m.log.Warn("writing the pull explain record", "pod", a.Pod, "container", a.Container, "err", err)
	}
}

func (a *PullAttempt) clone() *PullAttempt {
	c := *a
	c.Secrets = slices.Clone(a.Secrets)
	for i := range c.Secrets {
		c.Secrets[i].Keys = slices.Clone(c.Secrets[i].Keys)
	}
	c.Matched = slices.Clone(a.Matched)
	c.Attempts = slices.Clone(a.Attempts)
	return &c
}

// classify names a registry's answer from the runtime's error text.
// containerd words them e.g. "… failed with status code [manifests 1.0]:
// 401 Unauthorized", "failed to authorize: failed to fetch anonymous token:
// … 403 Forbidden", "… : not found", "dial tcp: lookup reg.example: no such
// host", "x509: certificate signed by unknown authority".
func classify(text string) string {
	t := strings.ToLower(text)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(t, s) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(text, ReasonRegistryUnavailable):
		return "registry-unavailable"
	case strings.HasPrefix(text, ReasonSignatureValidationFailed):
		return "signature"
	case has("429", "too many requests", "toomanyrequests", "rate limit"):
		return "rate-limited"
	case has("pull access denied", "insufficient_scope", "requested access to the resource is denied"):
		return "denied"
	case has("401", "unauthorized", "authorization failed", "authentication required", "no basic auth credentials"):
		return "unauthorized"
	case has("403", "forbidden", "denied"):
		return "forbidden"
	case has("server gave http response to https client"):
		return "http-on-https"
	case has("x509:", "certificate", "tls:"):
		return "tls"
	case has("no such host", "server misbehaving", "temporary failure in name resolution"):
		return "dns"
	case has("connection refused", "network is unreachable", "no route to host", "connection reset"):
		return "unreachable"
	case has("i/o timeout", "deadline exceeded", "timeout"):
		return "timeout"
	case has("not found", "404", "manifest unknown", "name unknown"):
		return "not-found"
	}
	return "other"
}

// anonymousCause says why a pull went without credentials.
func anonymousCause(ref imageref.Ref, pc *podCredentials) string {
	var parts []string
	switch {
	case len(pc.reports) == 0:
		parts = append(parts, "the pod has no imagePullSecrets")
	case len(pc.keys) == 0:
		parts = append(parts, "none of the pod's pull secrets is usable")
	default:
		parts = append(parts, fmt.Sprintf("no pull secret of the pod has an entry for %s (their registry keys: %s)", ref.Repository(), strings.Join(pc.keys, ", ")))
	}
	if len(pc.missing) > 0 {
		parts = append(parts, fmt.Sprintf("pull secret %s could not be read", strings.Join(pc.missing, ", ")))
	}
	if len(pc.ignored) > 0 {
		parts = append(parts, fmt.Sprintf("pull secret %s was skipped (wrong type or no docker config)", strings.Join(pc.ignored, ", ")))
	}
	return strings.Join(parts, "; ")
}

// credentialSummary is berth's note in failure messages: what was sent.
func credentialSummary(ref imageref.Ref, pc *podCredentials, attempts []AttemptReport) string {
	if len(pc.matched) == 0 {
		return "pulled without credentials: " + anonymousCause(ref, pc)
	}
	var tried []string
	for i := range pc.matched {
		if i < len(attempts) {
			tried = append(tried, pc.matched[i].describe())
		}
	}
	if len(tried) == 1 {
		return "tried credential " + tried[0]
	}
	return "tried credentials " + strings.Join(tried, ", ")
}

// failureVerdict is one sentence on why the pull failed.
func failureVerdict(ref imageref.Ref, pc *podCredentials, attempts []AttemptReport) string {
	host, repo := ref.Domain, ref.Repository()
	anonymous := len(pc.matched) == 0
	class := "other"
	for i, a := range attempts {
		if i == 0 {
			class = a.Class
		} else if a.Class != class {
			class = "mixed"
		}
	}
	who := ""
	if !anonymous {
		who = credentialSummary(ref, pc, attempts)[len("tried "):]
	}
	switch class {
	case "unauthorized":
		if anonymous {
			return fmt.Sprintf("The registry %s requires a login (401 Unauthorized) and berth pulled without credentials because %s.", host, anonymousCause(ref, pc))
		}
		return fmt.Sprintf("The registry %s rejected the login (401 Unauthorized) with %s: check the username and password in the secret.", host, who)
	case "denied":
		if anonymous {
			return fmt.Sprintf("The registry %s denied access to %s: the repository does not exist, or it is private and berth pulled without credentials because %s.", host, repo, anonymousCause(ref, pc))
		}
		return fmt.Sprintf("The registry %s denied access to %s with %s: the repository does not exist or that account may not pull it.", host, repo, who)
	case "forbidden":
		if anonymous {
			return fmt.Sprintf("The registry %s refused access to %s without credentials (403 Forbidden); berth pulled without credentials because %s.", host, repo, anonymousCause(ref, pc))
		}
		return fmt.Sprintf("The registry %s accepted the login but refused access to %s (403 Forbidden) with %s: that account may not pull it.", host, repo, who)
	case "not-found":
		return fmt.Sprintf("The registry %s has no image %s (not found): check the repository name and the tag or digest.", host, ref.String())
	case "rate-limited":
		return fmt.Sprintf("The registry %s rate-limited the pull (429 Too Many Requests): wait, or pull with a login to get a higher limit.", host)
	case "tls":
		return fmt.Sprintf("The TLS connection to %s failed (its certificate is not trusted or invalid): give containerd the registry's CA, or fix the certificate.", host)
	case "http-on-https":
		return fmt.Sprintf("The registry %s speaks plain HTTP but the runtime used HTTPS: configure it as an HTTP (insecure) registry in containerd.", host)
	case "dns":
		return fmt.Sprintf("The registry host %s could not be resolved (DNS lookup failed): check the registry name and the node's DNS.", host)
	case "unreachable":
		return fmt.Sprintf("The registry %s could not be reached (connection refused or no route): check that it is running and reachable from the node.", host)
	case "timeout":
		return fmt.Sprintf("The registry %s did not answer in time.", host)
	case "registry-unavailable":
		return fmt.Sprintf("The registry %s is unavailable (RegistryUnavailable).", host)
	case "signature":
		return fmt.Sprintf("The signature of %s failed validation (SignatureValidationFailed).", ref.String())
	case "mixed":
		var parts []string
		for i, a := range attempts {
			if i < len(pc.matched) {
				parts = append(parts, fmt.Sprintf("%s: %s", pc.matched[i].describe(), a.Class))
			}
		}
		return "No credential worked, and the registry answered differently to each: " + strings.Join(parts, "; ") + "."
	}
	if anonymous {
		return fmt.Sprintf("The pull of %s failed for a reason berth cannot classify (see the error); it was sent without credentials because %s.", ref.String(), anonymousCause(ref, pc))
	}
	return fmt.Sprintf("The pull of %s failed for a reason berth cannot classify (see the errors); berth %s.", ref.String(), credentialSummary(ref, pc, attempts))
}

// successVerdict is one sentence on how the pull succeeded.
func successVerdict(ref imageref.Ref, pc *podCredentials, attempts []AttemptReport) string {
	if len(pc.matched) == 0 {
		return fmt.Sprintf("Pulled %s without credentials (%s).", ref.String(), anonymousCause(ref, pc))
	}
	n := len(attempts)
	if n == 0 || n > len(pc.matched) {
		return fmt.Sprintf("Pulled %s.", ref.String())
	}
	s := fmt.Sprintf("Pulled %s with credential %s", ref.String(), pc.matched[n-1].describe())
	if n > 1 {
		s += fmt.Sprintf(" after %d other credential(s) failed", n-1)
	}
	return s + "."
}
