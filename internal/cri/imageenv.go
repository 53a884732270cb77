package cri

import (
	"context"
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ImageEnv returns the ENV of an image's config ("K=V"), which the runtime
// merges under a container's own variables; nil when the runtime does not
// say (containerd gives the config in ImageStatus's verbose "info").
func (c *Client) ImageEnv(ctx context.Context, image string) ([]string, error) {
	resp, err := c.image.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}, Verbose: true})
	if err != nil {
		return nil, fromGRPC(err)
	}
	return configEnv(resp.GetInfo())
}

// ImageConfig returns an image's status and the ENV of its config in one
// verbose ImageStatus call (nil image when the runtime does not have it).
func (c *Client) ImageConfig(ctx context.Context, image string) (*runtimeapi.Image, []string, error) {
	resp, err := c.image.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}, Verbose: true})
	if err != nil {
		return nil, nil, fromGRPC(err)
	}
	env, err := configEnv(resp.GetInfo())
	if err != nil {
		return resp.GetImage(), nil, nil // the ENV is only recorded; the user matters
	}
	return resp.GetImage(), env, nil
}

// configEnv reads the config's ENV from containerd's verbose "info".
func configEnv(info map[string]string) ([]string, error) {
	raw, ok := info["info"]
	if !ok {
		return nil, nil
	}
	var v struct {
		ImageSpec struct {
			Config struct {
				Env []string `json:"Env"`
			} `json:"config"`
		} `json:"imageSpec"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, err
	}
	return v.ImageSpec.Config.Env, nil
}
