package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// kubeReadyTimeout is how long etcd and kube-apiserver each get to answer
// (kube-apiserver's post-start hooks take a few seconds).
const kubeReadyTimeout = 90 * time.Second

// kubeResult is what was measured through kube-apiserver.
type kubeResult struct {
	*apiResult
	ready time.Duration // kube-apiserver exec to /readyz ok
	rss   int64         // kube-apiserver's VmRSS at the end (etcd not included)
}

// benchKube starts etcd and kube-apiserver under dir, runs the workload
// against it, and stops both.
func benchKube(ctx context.Context, cfg config, dir, label string) (*kubeResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	benchkit.Progress("%s: starting %s on %s", label, cfg.etcd, etcdURL)
	etcd, err := benchkit.StartChild(filepath.Join(dir, "etcd.log"), syscall.SIGTERM, cfg.etcd,
		"--name", "bench", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "bench="+peerURL, "--listen-metrics-urls", "")
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.etcd, err)
	}
	defer func() {
		// etcd 3.4 exits with SIGTERM's status: only say so.
		if _, stopErr := etcd.Stop(benchkit.ServerStopTimeout); stopErr != nil {
			benchkit.Progress("%s: stopping etcd: %v", label, stopErr)
		}
	}()
	if err := waitHTTP(ctx, http.DefaultClient, etcdURL+"/health", etcd); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}

	certs, err := writeKubeCerts(dir)
	if err != nil {
		return nil, fmt.Errorf("writing certificates: %w", err)
	}
	host := "https://127.0.0.1:" + strconv.Itoa(ports[2])
	benchkit.Progress("%s: starting %s on %s", label, cfg.kubeAPIServer, host)
	start := time.Now()
	kapi, err := benchkit.StartChild(filepath.Join(dir, "kube-apiserver.log"), syscall.SIGTERM, cfg.kubeAPIServer,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[2]),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--tls-cert-file", certs.serverCert, "--tls-private-key-file", certs.serverKey,
		"--client-ca-file", certs.ca,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", certs.saPub, "--service-account-signing-key-file", certs.saKey,
		"--service-cluster-ip-range", "10.96.0.0/12",
		"--authorization-mode", "Node,RBAC",
		// The kubernetes Service's endpoint would be 127.0.0.1, which the
		// reconciler refuses; nothing here needs that Service.
		"--endpoint-reconciler-type", "none")
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.kubeAPIServer, err)
	}
	defer stopChild(label, kapi)
	if err := waitReady(ctx, host, certs, kapi); err != nil {
		return nil, fmt.Errorf("kube-apiserver: %w", err)
	}
	res := &kubeResult{ready: time.Since(start)}
	benchkit.Progress("%s: ready in %s", label, res.ready.Round(time.Millisecond))

	rc, err := restConfigFor(dir, host, certs)
	if err != nil {
		return nil, err
	}
	if res.apiResult, err = runWorkload(ctx, label, cfg, rc, kapi.Pid()); err != nil {
		return nil, err
	}
	res.rss = benchkit.RSS(kapi.Pid())
	return res, nil
}

// stopChild stops a server the benchmark started, saying how it went
// when not cleanly.
func stopChild(label string, c *benchkit.Child) {
	if _, err := c.Stop(benchkit.ServerStopTimeout); err != nil {
		benchkit.Progress("%s: stopping: %v", label, err)
	}
}

// waitReady waits until the server at host answers /readyz over TLS with
// the benchmark's certificates.
func waitReady(ctx context.Context, host string, certs kubeCerts, c *benchkit.Child) error {
	hc, err := tlsClient(certs)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, hc, host+"/readyz", c)
}

// restConfigFor writes a kubeconfig for host under dir and reads it back
// as the benchmark's client config.
func restConfigFor(dir, host string, certs kubeCerts) (*rest.Config, error) {
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, host, certs); err != nil {
		return nil, err
	}
	return benchkit.RESTConfig(kubeconfig, "berth-bench-api")
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func tlsClient(c kubeCerts) (*http.Client, error) {
	ca, err := os.ReadFile(c.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(c.clientCert, c.clientKey)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

// waitHTTP polls url until it answers 200, the child exits, or
// kubeReadyTimeout passes.
func waitHTTP(ctx context.Context, hc *http.Client, url string, child *benchkit.Child) error {
	deadline := time.Now().Add(kubeReadyTimeout)
	last := "no answer"
	for {
		if resp, err := hc.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ok after %s (%s); its log:\n%s", url, kubeReadyTimeout, last, child.LogTail())
		}
		select {
		case <-child.Exited():
			return fmt.Errorf("exited before it was ready (%v); its log:\n%s", child.WaitErr(), child.LogTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func writeKubeconfig(path, host string, c kubeCerts) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kube"] = &clientcmdapi.Cluster{Server: host, CertificateAuthority: c.ca}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: c.clientCert, ClientKey: c.clientKey}
	kc.Contexts["kube"] = &clientcmdapi.Context{Cluster: "kube", AuthInfo: "admin"}
	kc.CurrentContext = "kube"
	return clientcmd.WriteToFile(*kc, path)
}
