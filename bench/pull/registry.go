package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// busyboxPath is the static busybox the image is built from.
const busyboxPath = testregistry.BusyboxPath

// repo is the repository the benchmark's image is pushed to, under one
// tag per pull.
const repo = "bench/pull"

// registry is a running docker-registry (the Debian package) on loopback
// with htpasswd basic auth: the non-test variant of testregistry.Start
// (which takes a testing.TB), with errors instead of t.Fatal and a stop
// the benchmark calls itself.
type registry struct {
	host               string // 127.0.0.1:PORT
	username, password string
	version            string
	cmd                *exec.Cmd
	log                string
	exited             chan struct{}
	once               sync.Once
}

// image is the benchmark's image, pushed once and tagged many times.
type image struct {
	repo       string   // host/bench/pull
	digest     string   // manifest digest
	blobs      []string // config and layer digests (sha256:…): absent from containerd when cold
	layers     int
	size       int64         // compressed layers and config: the bytes a cold pull downloads
	padding    int64         // the incompressible layer's uncompressed size
	build      time.Duration // building it (tar, gzip, digests)
	push       time.Duration // pushing it once (the other tags are manifest puts)
	tagsPushed int
}

// ref is the image under tag.
func (i image) ref(tag string) string { return i.repo + ":" + tag }

func startRegistry(ctx context.Context, dir string) (*registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry not installed (apt-get install docker-registry): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	r := &registry{username: "bench", password: hex.EncodeToString(secret),
		log: filepath.Join(dir, "registry.log"), exited: make(chan struct{})}
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		r.version = strings.TrimSpace(string(out))
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(r.username+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.host = ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog: {disabled: true}\n"+
		"storage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: %s\n"+
		"auth:\n  htpasswd: {realm: berth-bench, path: %s}\n",
		filepath.Join(dir, "data"), r.host, htpasswd)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
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
		// With auth on, /v2/ answers 401 without and 200 with credentials.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.host+"/v2/", nil)
		req.SetBasicAuth(r.username, r.password)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
			err = fmt.Errorf("GET /v2/ with the credentials: %s", resp.Status)
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
			return nil, fmt.Errorf("docker-registry on %s did not answer within 20s (%v); its log:\n%s", r.host, err, r.logTail())
		}
	}
}

// push builds busybox plus a padding layer of incompressible bytes
// (testregistry.Build: the machine's static busybox, no image from the
// internet), pushes it once under tags[0] and tags the same manifest with
// the others: the registry holds the blobs once, every tag pulls them all.
func (r *registry) push(ctx context.Context, padding int64, tags []string) (image, error) {
	start := time.Now()
	img, err := testregistry.Build(testregistry.Image{Cmd: []string{"sh"}, Padding: int(padding)})
	if err != nil {
		return image{}, err
	}
	out := image{repo: r.host + "/" + repo, padding: padding}
	m, err := img.Manifest() // computes the layers' digests: the gzip work
	if err != nil {
		return image{}, err
	}
	out.build = time.Since(start)
	out.blobs = append(out.blobs, m.Config.Digest.String())
	out.size = m.Config.Size
	for _, l := range m.Layers {
		out.blobs = append(out.blobs, l.Digest.String())
		out.size += l.Size
	}
	out.layers = len(m.Layers)
	d, err := img.Digest()
	if err != nil {
		return image{}, err
	}
	out.digest = d.String()

	auth := remote.WithAuth(&authn.Basic{Username: r.username, Password: r.password})
	start = time.Now()
	for i, tag := range tags {
		t, err := name.NewTag(out.ref(tag), name.Insecure)
		if err != nil {
			return image{}, err
		}
		if i == 0 {
			err = remote.Write(t, img, auth, remote.WithContext(ctx))
			out.push = time.Since(start)
		} else {
			err = remote.Tag(t, img, auth, remote.WithContext(ctx))
		}
		if err != nil {
			return image{}, fmt.Errorf("pushing %s: %w", t, err)
		}
		out.tagsPushed++
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
