// Package testregistry runs a real Docker Distribution registry (the
// Debian docker-registry package) on loopback for tests, and builds small
// images from the machine's static busybox and pushes them to it. No
// image comes from the internet.
package testregistry

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-dev/berth/internal/testutil/ci"
)

// BusyboxPath is the static busybox the images are built from
// (Debian package busybox-static).
const BusyboxPath = "/bin/busybox"

// Registry is a running registry.
type Registry struct {
	Host     string // 127.0.0.1:PORT
	Username string
	Password string
	// CAFile is the CA that signs the registry's certificate (HTTPS only).
	CAFile string
	// TokenRealm is the token server's URL (token auth only).
	TokenRealm string

	bin, dir, scheme string
	mu               sync.Mutex
	cmd              *exec.Cmd
	done             chan struct{}
}

// Options configure Start.
type Options struct {
	// Username and Password turn on htpasswd basic auth (or, with Token,
	// the credentials the token server accepts).
	Username, Password string
	// Token uses the Docker Distribution bearer-token flow with a token
	// server run by the test, instead of basic auth.
	Token bool
	// TLS serves HTTPS with a certificate from a private CA (CAFile).
	TLS bool
}

// Start runs docker-registry on a free loopback port until the test ends.
// It skips the test when the binary is missing.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		ci.Skipf(t, "docker-registry not installed (apt-get install docker-registry)")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog: {disabled: true}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	r := &Registry{Host: host, Username: opts.Username, Password: opts.Password}
	if opts.TLS {
		snippet, ca := tlsConfig(t, dir)
		cfg += snippet
		r.CAFile = ca
	}
	if opts.Token {
		ts, snippet := startTokenServer(t, dir, opts.Username, opts.Password)
		cfg += snippet
		r.TokenRealm = ts.url + "/token"
	} else if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd: {realm: berth-test, path: %s}\n", filepath.Join(dir, "htpasswd"))
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.bin, r.dir, r.scheme = bin, dir, "http://"
	if opts.TLS {
		r.scheme = "https://"
	}
	t.Cleanup(r.Stop)
	r.Restart(t)
	return r
}

// Stop stops the registry process (its storage stays for Restart).
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	cmd, done := r.cmd, r.done
	r.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the registry process (again) on the same address and
// storage, and waits until it answers.
func (r *Registry) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	logf, _ := os.OpenFile(filepath.Join(r.dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	cmd := exec.Command(r.bin, "serve", filepath.Join(r.dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := r.httpClient().Get(r.scheme + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
			t.Fatalf("registry on %s did not answer: %v\n%s", r.Host, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Image describes an image to build.
type Image struct {
	Env        []string
	Entrypoint []string
	Cmd        []string
	// Files adds files (path → content) to a second layer.
	Files map[string]string
	// Padding adds a layer of that many incompressible bytes (pull benchmarks).
	Padding int
	// Arch is the image's architecture (default amd64); another one makes
	// an image this machine cannot run.
	Arch string
	// StopSignal is the image's STOPSIGNAL (e.g. "SIGUSR1").
	StopSignal string
}

// applets are linked to busybox in every image.
var applets = []string{"sh", "sleep", "echo", "cat", "env", "hostname", "true", "false", "ls", "wget", "nc", "httpd", "id", "printenv", "kill", "trap", "date", "head", "tail", "grep", "test", "touch", "mkdir", "rm", "ps"}

// Build returns the image.
func Build(spec Image) (v1.Image, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("test images need a static busybox (apt-get install busybox-static): %w", err)
	}
	files := map[string][]byte{"bin/busybox": bin, "etc/passwd": []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"),
		"etc/group": []byte("root:x:0:\nnogroup:x:65534:\n")}
	base, err := layer(files, true)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base)
	if err != nil {
		return nil, err
	}
	if len(spec.Files) > 0 {
		extra := map[string][]byte{}
		for k, v := range spec.Files {
			extra[strings.TrimPrefix(k, "/")] = []byte(v)
		}
		l, err := layer(extra, false)
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	if spec.Padding > 0 {
		pad := make([]byte, spec.Padding)
		var x uint64 = 0x9E3779B97F4A7C15
		for i := range pad {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			pad[i] = byte(x)
		}
		l, err := layer(map[string][]byte{"padding.bin": pad}, false)
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	if spec.Arch != "" {
		cfg.Architecture = spec.Arch
	}
	cfg.Config.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, spec.Env...)
	cfg.Config.Entrypoint, cfg.Config.Cmd = spec.Entrypoint, spec.Cmd
	cfg.Config.StopSignal = spec.StopSignal
	if cfg.Config.Cmd == nil && cfg.Config.Entrypoint == nil {
		cfg.Config.Cmd = []string{"sh"}
	}
	cfg.Created = v1.Time{Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	return mutate.ConfigFile(img, cfg)
}

func layer(files map[string][]byte, busybox bool) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	dirs := map[string]bool{}
	addDir := func(d string) error {
		if d == "." || d == "" || dirs[d] {
			return nil
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime})
	}
	if busybox {
		for _, d := range []string{"bin", "etc", "tmp", "root", "proc", "sys", "dev"} {
			if err := addDir(d); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range sortedKeys(files) {
		if err := addDir(filepath.Dir(p)); err != nil {
			return nil, err
		}
		mode := int64(0o644)
		if p == "bin/busybox" || strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: mode, Size: int64(len(files[p])), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return nil, err
		}
	}
	if busybox {
		for _, a := range applets {
			if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Linkname: "busybox", Typeflag: tar.TypeSymlink, Mode: 0o777, ModTime: mtime}); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Push builds spec and pushes it as repoTag ("team/app:v1") to r,
// returning the full reference with the registry host and the digest.
func (r *Registry) Push(t testing.TB, repoTag string, spec Image) (ref string, digest string) {
	t.Helper()
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	ref = r.Host + "/" + repoTag
	nameOpts := []name.Option{name.Insecure}
	if r.CAFile != "" {
		nameOpts = nil
	}
	tag, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.Anonymous
	if r.Username != "" {
		auth = &authn.Basic{Username: r.Username, Password: r.Password}
	}
	if spec.Arch != "" {
		// An image index listing only that platform, as multi-arch images are.
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
			Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: spec.Arch}}})
		if err := remote.WriteIndex(tag, idx, remote.WithAuth(auth), remote.WithTransport(r.httpClient().Transport)); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return ref, d.String()
	}
	if err := remote.Write(tag, img, remote.WithAuth(auth), remote.WithTransport(r.httpClient().Transport)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref, d.String()
}
