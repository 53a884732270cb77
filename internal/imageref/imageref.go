// Package imageref parses and normalises container image references the way
// Kubernetes does (distribution/reference rules), in one place for admission,
// the keyring, the image manager and explain.
package imageref

import (
	"fmt"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
)

// DefaultTag is the tag assumed when a reference has neither tag nor digest.
const DefaultTag = "latest"

// Ref is a parsed, normalised image reference.
type Ref struct {
	Domain string // "docker.io", "localhost:5000", "[::1]:5000"
	Path   string // "library/busybox", "team/app"
	Tag    string // "latest" when neither tag nor digest was given; "" for digest-only
	Digest string // "sha256:…" or ""
}

// Repository is the fully normalised repository name, e.g.
// "docker.io/library/busybox": the string the keyring matches against.
// A name whose first component has a dot but is no host name ("a.b_c/d")
// parses with no domain, as in Kubernetes; its name is then the path alone
// (distribution/reference's Name), so that it parses back the same.
func (r Ref) Repository() string {
	if r.Domain == "" {
		return r.Path
	}
	return r.Domain + "/" + r.Path
}

// String is the normalised reference with tag and/or digest.
func (r Ref) String() string {
	s := r.Repository()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Parse parses image as Kubernetes' ParseImageName does: the name is
// normalised (busybox → docker.io/library/busybox) and a reference with
// neither tag nor digest gets the tag "latest".
func Parse(image string) (Ref, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return Ref{}, fmt.Errorf("couldn't parse image name %q: %w", image, err)
	}
	r := Ref{Domain: reference.Domain(named), Path: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest().String()
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = DefaultTag
	}
	return r, nil
}

// DefaultPullPolicy is the API server's defaulting rule for an empty
// imagePullPolicy: Always when the (possibly defaulted) tag is "latest",
// IfNotPresent otherwise, including for references that do not parse.
func DefaultPullPolicy(image string) corev1.PullPolicy {
	r, err := Parse(image)
	if err == nil && r.Tag == DefaultTag {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}
