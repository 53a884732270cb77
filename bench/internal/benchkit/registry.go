package benchkit

import (
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
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const (
	registryReadyTimeout = 20 * time.Second
	registryStopTimeout  = 5 * time.Second
)

// Registry is a running docker-registry (the Debian package) on loopback,
// plain HTTP: the non-test variant of testregistry.Start (which takes a
// testing.TB), with errors instead of t.Fatal and a stop the benchmark
// calls itself.
type Registry struct {
	Host               string // 127.0.0.1:PORT
	Username, Password string // htpasswd basic auth; empty without
	Version            string // docker-registry --version; empty when unknown
	child              *Child
}

// StartRegistry runs docker-registry on a free loopback port with its
// storage, config and log under dir, and returns once /v2/ answers. With
// basicAuth it wants a user "bench" with a random password. Should the
// benchmark die, the kernel kills it.
func StartRegistry(ctx context.Context, dir string, basicAuth bool) (*Registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry not installed (apt-get install docker-registry): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &Registry{}
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		r.Version = strings.TrimSpace(string(out))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.Host = ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog: {disabled: true}\n"+
		"storage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), r.Host)
	if basicAuth {
		htpasswd, err := r.writeHtpasswd(dir)
		if err != nil {
			return nil, err
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd: {realm: berth-bench, path: %s}\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if r.child, err = StartChild(filepath.Join(dir, "registry.log"), syscall.SIGKILL, bin, "serve", cfgPath); err != nil {
		return nil, fmt.Errorf("starting docker-registry: %w", err)
	}
	if err := r.waitReady(ctx); err != nil {
		_ = r.Stop()
		return nil, err
	}
	return r, nil
}

// writeHtpasswd makes up the credentials and writes dir/htpasswd.
func (r *Registry) writeHtpasswd(dir string) (string, error) {
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	r.Username, r.Password = "bench", hex.EncodeToString(secret)
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "htpasswd")
	return path, os.WriteFile(path, []byte(r.Username+":"+string(hash)+"\n"), 0o600)
}

// waitReady polls /v2/ (with the credentials, if any) until it answers 200.
func (r *Registry) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(registryReadyTimeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host+"/v2/", nil)
		if r.Username != "" {
			// With auth on, /v2/ answers 401 without and 200 with credentials.
			req.SetBasicAuth(r.Username, r.Password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		select {
		case <-r.child.Exited():
			return fmt.Errorf("docker-registry exited at start; its log:\n%s", r.child.LogTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("docker-registry on %s did not answer within %s (%v); its log:\n%s",
				r.Host, registryReadyTimeout, err, r.child.LogTail())
		}
	}
}

// Stop sends SIGTERM, then SIGKILL to the process group after 5 s. Safe to
// call more than once; it always returns nil (the shape Cleanups.Add takes).
func (r *Registry) Stop() error {
	_, _ = r.child.Stop(registryStopTimeout)
	return nil
}
