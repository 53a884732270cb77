package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
)

// removeImages removes every image of repo (host/bench/pull) from the
// runtime: the pause image and anything else stay.
func removeImages(ctx context.Context, rt cri.Runtime, repo string) error {
	if repo == "" {
		return nil
	}
	imgs, err := rt.ListImages(ctx, nil)
	if err != nil {
		return fmt.Errorf("listing images: %w", err)
	}
	var errs []error
	for _, img := range imgs {
		if !ofRepo(img, repo) {
			continue
		}
		if err := rt.RemoveImage(ctx, &runtimeapi.ImageSpec{Image: img.Id}); err != nil {
			errs = append(errs, fmt.Errorf("removing image %s: %w", img.Id, err))
		}
	}
	return errors.Join(errs...)
}

// ofRepo tells whether img carries a tag or digest of repo.
func ofRepo(img *runtimeapi.Image, repo string) bool {
	for _, t := range append(img.RepoTags, img.RepoDigests...) {
		if strings.HasPrefix(t, repo+":") || strings.HasPrefix(t, repo+"@") {
			return true
		}
	}
	return false
}
