package benchkit

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// Image is the benchmark's image, pushed once and tagged as many times as
// asked.
type Image struct {
	Repo   string   // host/repository
	Digest string   // manifest digest
	Blobs  []string // config and layer digests (sha256:…)
	Layers int
	Size   int64         // compressed layers and config: the bytes a cold pull downloads
	Build  time.Duration // building it (tar, gzip, digests)
	Push   time.Duration // pushing it once (the other tags are manifest puts)
}

// Ref is the image under tag.
func (i Image) Ref(tag string) string { return i.Repo + ":" + tag }

// Push builds a busybox image (testregistry.Build: the machine's static
// busybox, no image from the internet; with padding > 0 plus a layer of
// that many incompressible bytes), pushes it as repo:tags[0] and tags the
// same manifest with the others: the registry holds the blobs once, every
// tag pulls them all.
func (r *Registry) Push(ctx context.Context, repo string, padding int64, tags ...string) (Image, error) {
	start := time.Now()
	img, err := testregistry.Build(testregistry.Image{Cmd: []string{"sh"}, Padding: int(padding)})
	if err != nil {
		return Image{}, err
	}
	out := Image{Repo: r.Host + "/" + repo}
	m, err := img.Manifest() // computes the layers' digests: the gzip work
	if err != nil {
		return Image{}, err
	}
	out.Build = time.Since(start)
	out.Blobs = append(out.Blobs, m.Config.Digest.String())
	out.Size = m.Config.Size
	for _, l := range m.Layers {
		out.Blobs = append(out.Blobs, l.Digest.String())
		out.Size += l.Size
	}
	out.Layers = len(m.Layers)
	d, err := img.Digest()
	if err != nil {
		return Image{}, err
	}
	out.Digest = d.String()

	var auth authn.Authenticator = authn.Anonymous
	if r.Username != "" {
		auth = &authn.Basic{Username: r.Username, Password: r.Password}
	}
	start = time.Now()
	for i, tag := range tags {
		t, err := name.NewTag(out.Ref(tag), name.Insecure)
		if err != nil {
			return Image{}, err
		}
		if i == 0 {
			err = remote.Write(t, img, remote.WithAuth(auth), remote.WithContext(ctx))
			out.Push = time.Since(start)
		} else {
			err = remote.Tag(t, img, remote.WithAuth(auth), remote.WithContext(ctx))
		}
		if err != nil {
			return Image{}, fmt.Errorf("pushing %s: %w", t, err)
		}
	}
	return out, nil
}
