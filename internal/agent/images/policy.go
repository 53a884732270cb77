package images

import (
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/imageref"
)

// Credential verification policies (KubeletConfiguration
// imagePullCredentialsVerificationPolicy).
const (
	NeverVerify                  = "NeverVerify"
	NeverVerifyPreloadedImages   = "NeverVerifyPreloadedImages"
	NeverVerifyAllowlistedImages = "NeverVerifyAllowlistedImages"
	AlwaysVerify                 = "AlwaysVerify"
)

// verificationPolicy is RequireCredentialVerificationForImage.
type verificationPolicy struct {
	name     string
	exact    map[string]bool // normalised repositories
	prefixes []string        // "registry.io/team/" for "registry.io/team/*"
}

func newVerificationPolicy(name string, allowlist []string) (*verificationPolicy, error) {
	if name == "" {
		name = NeverVerifyPreloadedImages
	}
	switch name {
	case NeverVerify, NeverVerifyPreloadedImages, NeverVerifyAllowlistedImages, AlwaysVerify:
	default:
		return nil, fmt.Errorf("unknown image pull credential verification policy: %v", name)
	}
	p := &verificationPolicy{name: name, exact: map[string]bool{}}
	for _, pattern := range allowlist {
		if err := p.add(pattern); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// add accepts "registry.io/team/app" (normalised, so "nginx" is
// docker.io/library/nginx) or "registry.io/team/*"; no tag, no digest, and
// no other wildcard, as the kubelet's configuration validation.
func (p *verificationPolicy) add(pattern string) error {
	if pattern != strings.TrimSpace(pattern) || pattern == "" {
		return fmt.Errorf("invalid image pattern %q: empty or with surrounding spaces", pattern)
	}
	if prefix, ok := strings.CutSuffix(pattern, "/*"); ok {
		if prefix == "" || strings.Contains(prefix, "*") {
			return fmt.Errorf("only a trailing full path segment wildcard '/*' is allowed: %s", pattern)
		}
		p.prefixes = append(p.prefixes, prefix+"/")
		return nil
	}
	if strings.Contains(pattern, "*") {
		return fmt.Errorf("only a trailing full path segment wildcard '/*' is allowed: %s", pattern)
	}
	if strings.HasSuffix(pattern, "/") {
		return fmt.Errorf("image pattern cannot end with '/': %s", pattern)
	}
	ref, err := imageref.Parse(pattern)
	if err != nil {
		return fmt.Errorf("invalid image pattern %s: %w", pattern, err)
	}
	if ref.Digest != "" || strings.HasSuffix(pattern, ":"+ref.Tag) {
		return fmt.Errorf("neither tag nor digest is accepted in an image pattern: %s", pattern)
	}
	p.exact[ref.Repository()] = true
	return nil
}

// requireVerification reports whether the pod's credentials must be
// checked for a present image.
func (p *verificationPolicy) requireVerification(ref imageref.Ref, pulledByBerth bool) bool {
	switch p.name {
	case NeverVerify:
		return false
	case NeverVerifyPreloadedImages:
		return pulledByBerth
	case NeverVerifyAllowlistedImages:
		return !p.allowlisted(ref)
	default:
		return true
	}
}

func (p *verificationPolicy) allowlisted(ref imageref.Ref) bool {
	repo := ref.Repository()
	if p.exact[repo] {
		return true
	}
	for _, prefix := range p.prefixes {
		if strings.HasPrefix(repo, prefix) {
			return true
		}
	}
	return false
}

// exemption says why no verification was needed.
func (p *verificationPolicy) exemption() string {
	switch p.name {
	case NeverVerify:
		return "credential verification is off (NeverVerify)"
	case NeverVerifyPreloadedImages:
		return "it was on the node before berth ever pulled it (preloaded images are exempt under NeverVerifyPreloadedImages)"
	default:
		return "it is allowlisted (NeverVerifyAllowlistedImages)"
	}
}
