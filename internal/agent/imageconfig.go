package agent

import (
	"context"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// imageConfig is what a container's config needs from its image: the user
// (the kubelet's getImageUser) and the ENV (recorded for explain env).
type imageConfig struct {
	uid      *int64
	username string
	env      []string
}

// imageConfigCache keeps imageConfig per image ID. An ID ("sha256:…") is
// the digest of the image's config, so what it names never changes: one
// runtime call per image instead of two per container start.
type imageConfigCache struct {
	mu sync.Mutex
	m  map[string]imageConfig
}

// maxImageConfigs bounds the cache; past it, it starts afresh.
const maxImageConfigs = 512

func (c *imageConfigCache) get(id string) (imageConfig, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ic, ok := c.m[id]
	return ic, ok
}

func (c *imageConfigCache) put(id string, ic imageConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxImageConfigs {
		c.m = map[string]imageConfig{}
	}
	c.m[id] = ic
}

// imageConfigReader is the runtime's one-call answer (cri.Client): the
// image's status and its config's ENV, from a verbose ImageStatus.
type imageConfigReader interface {
	ImageConfig(ctx context.Context, image string) (*runtimeapi.Image, []string, error)
}

// imageConfigOf returns the image's user and ENV, cached by image ID.
// imageRef is what EnsureImage returned (an image ID from containerd).
func (a *Agent) imageConfigOf(ctx context.Context, imageRef string) (imageConfig, error) {
	cacheable := strings.HasPrefix(imageRef, "sha256:")
	if cacheable {
		if ic, ok := a.images.get(imageRef); ok {
			return ic, nil
		}
	}
	cctx, cancel := context.WithTimeout(ctx, criTimeout)
	defer cancel()
	var img *runtimeapi.Image
	var env []string
	var err error
	if r, ok := a.cfg.Runtime.(imageConfigReader); ok && imageRef != "" {
		img, env, err = r.ImageConfig(cctx, imageRef)
	} else {
		img, err = a.cfg.Runtime.ImageStatus(cctx, &runtimeapi.ImageSpec{Image: imageRef})
		if err == nil {
			env = a.imageEnv(ctx, imageRef)
		}
	}
	if err != nil {
		return imageConfig{}, err
	}
	ic := imageConfig{uid: new(int64), env: env}
	if img != nil {
		switch {
		case img.Uid != nil:
			uid := img.Uid.Value
			ic.uid = &uid
		case img.Username != "":
			ic.uid, ic.username = nil, img.Username
		}
	}
	// An image the runtime does not have (nil) is not cached: it may
	// arrive later with another user.
	if cacheable && img != nil {
		a.images.put(imageRef, ic)
	}
	return ic, nil
}

// imageEnv is the image's ENV when the runtime tells it (only recorded:
// the runtime merges it itself).
func (a *Agent) imageEnv(ctx context.Context, imageRef string) []string {
	r, ok := a.cfg.Runtime.(interface {
		ImageEnv(ctx context.Context, image string) ([]string, error)
	})
	if !ok || imageRef == "" {
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	env, err := r.ImageEnv(ictx, imageRef)
	if err != nil {
		a.log.Debug("reading the image's ENV", "image", imageRef, "err", err)
		return nil
	}
	return env
}
