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
	raw, ok := resp.GetInfo()["info"]
	if !ok {
		return nil, nil
	}
	var info struct {
		ImageSpec struct {
			Config struct {
				Env []string `json:"Env"`
			} `json:"config"`
		} `json:"imageSpec"`
	}
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return nil, err
	}
	return info.ImageSpec.Config.Env, nil
}
