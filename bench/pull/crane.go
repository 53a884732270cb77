package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
)

// craneRun is one pull by a plain registry client: go-containerregistry's
// crane library, as `crane pull --format=oci` does it — the manifest, the
// config and every layer downloaded and written to an OCI layout on the
// same file system, nothing unpacked.
type craneRun struct {
	tag  string
	pull time.Duration
}

// crane pulls a fresh tag with the registry's credentials into dir, then
// removes what it wrote.
func (b *bench) crane(ctx context.Context, tag, dir string) (craneRun, error) {
	ref := b.img.Ref(tag)
	out := filepath.Join(dir, "crane-"+tag)
	r := craneRun{tag: tag}
	pctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	opts := []crane.Option{crane.Insecure, crane.WithContext(pctx),
		crane.WithAuth(&authn.Basic{Username: b.reg.Username, Password: b.reg.Password})}
	start := time.Now()
	img, err := crane.Pull(ref, opts...)
	if err == nil {
		err = crane.SaveOCI(img, out)
	}
	r.pull = time.Since(start)
	if rmErr := os.RemoveAll(out); err == nil && rmErr != nil {
		err = rmErr
	}
	if err != nil {
		return r, fmt.Errorf("crane pull %s: %w", ref, err)
	}
	return r, nil
}
