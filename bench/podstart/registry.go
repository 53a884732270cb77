package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// busyboxPath is the static busybox the image is built from.
const busyboxPath = testregistry.BusyboxPath

func lookPath(file string) (string, error) { return exec.LookPath(file) }

// registry is a running docker-registry (the Debian package) on loopback:
// the non-test variant of testregistry.Start, with errors instead of
// t.Fatal and a stop the benchmark calls itself.
type registry struct {
	host   string // 127.0.0.1:PORT
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	once   sync.Once
}

// image is the benchmark's image, pushed to the registry.
type image struct {
	ref    string // host/repo:tag, what the pods name
	digest string
	size   int64 // compressed layers and config, as pushed
}

func startRegistry(ctx context.Context, dir string) (*registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry not installed (apt-get install docker-registry): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog: {disabled: true}\n"+
		"storage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	r := &registry{host: host, log: filepath.Join(dir, "registry.log"), exited: make(chan struct{})}
	logf, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	r.cmd = exec.Command(bin, "serve", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = childAttrs(syscall.SIGKILL)
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting docker-registry: %w", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		select {
		case <-r.exited:
			return nil, fmt.Errorf("docker-registry exited at start; its log:\n%s", r.logTail())
		case <-ctx.Done():
			r.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("docker-registry on %s did not answer within 20s (%v); its log:\n%s", host, err, r.logTail())
		}
	}
}

// push builds the busybox image (testregistry.Build: the machine's static
// busybox, no image from the internet) and pushes it as repoTag.
func (r *registry) push(repoTag string) (image, error) {
	img, err := testregistry.Build(testregistry.Image{Cmd: []string{"sh"}})
	if err != nil {
		return image{}, err
	}
	ref := r.host + "/" + repoTag
	tag, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return image{}, err
	}
	if err := remote.Write(tag, img, remote.WithAuth(authn.Anonymous)); err != nil {
		return image{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return image{}, err
	}
	out := image{ref: ref, digest: d.String()}
	if m, err := img.Manifest(); err == nil {
		out.size = m.Config.Size
		for _, l := range m.Layers {
			out.size += l.Size
		}
	}
	return out, nil
}

// stop sends SIGTERM, then SIGKILL after 5 s. Safe to call more than once.
func (r *registry) stop() error {
	r.once.Do(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.exited
		}
	})
	return nil
}

func (r *registry) logTail() string {
	b, err := os.ReadFile(r.log)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimRight(b, "\n"))
}
