package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/agent/images"
	agentserver "github.com/berth-dev/berth/internal/agent/server"
	"github.com/berth-dev/berth/internal/agent/volumes"
	"github.com/berth-dev/berth/internal/containerd"
	"github.com/berth-dev/berth/internal/cri"
	clusterdns "github.com/berth-dev/berth/internal/dns"
	"github.com/berth-dev/berth/internal/proxy"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// AgentConfig is `berth agent`'s configuration (and the agent part of
// `berth server`).
type AgentConfig struct {
	Kubeconfig string
	DataDir    string
	NodeName   string
	// ContainerRuntimeEndpoint uses an existing CRI runtime; empty starts
	// containerd as a child with a generated config.
	ContainerRuntimeEndpoint string
	ClusterCIDR              string
	// ClusterDNS are the nameservers of ClusterFirst pods (the kubelet's
	// --cluster-dns): the kube-dns ClusterIP. Empty: ClusterFirst pods use
	// the node's resolv.conf, with a MissingClusterDNS event.
	ClusterDNS []string
	// RegistryCAs maps registry hosts to CA files for HTTPS registries
	// with a private CA (--registry-ca HOST=FILE).
	RegistryCAs map[string]string
	// OCIRuntime is the containerd child's default OCI runtime: auto
	// (crun when usable, else runc), crun or runc (--oci-runtime).
	OCIRuntime string
	// ImagePullCredentialsVerificationPolicy is KEP-2535's policy:
	// NeverVerify, NeverVerifyPreloadedImages (default),
	// NeverVerifyAllowlistedImages or AlwaysVerify.
	ImagePullCredentialsVerificationPolicy string
	// KubeletServing issues the kubelet endpoint's serving certificate and
	// KubeletClientCA verifies the API server's client certificate; without
	// them logs, exec, attach and port-forward are not served.
	KubeletServing  func(hosts []string) (tls.Certificate, error)
	KubeletClientCA *x509.CertPool
	// KubeletPort is the endpoint's port (the kubelet's --port); 0 picks
	// a free one, so that parallel servers on one machine do not collide.
	KubeletPort int
	// TLSCertFile and TLSPrivateKeyFile (the kubelet's flags) are the
	// serving certificate of `berth agent`'s kubelet endpoint, and
	// ClientCAFile the CA its clients' certificates must chain to
	// (default: the kubeconfig's CA). Without a certificate the endpoint
	// is not served.
	TLSCertFile, TLSPrivateKeyFile, ClientCAFile string

	Log *slog.Logger
}

// nodeAgent is a running agent with its runtime.
type nodeAgent struct {
	agent   *agent.Agent
	runtime cri.Runtime
	// stopRuntime stops the containerd child (pods keep running).
	stopRuntime func()
	done        chan error
}

// runtimeChild is berth's containerd child, started before the agent (it
// needs neither the API nor the agent), so that its start overlaps etcd's
// and the API server's.
type runtimeChild struct {
	cd     *containerd.Containerd
	done   chan struct{} // closed when Run returned
	err    error         // Run's error; set before done closes
	cancel context.CancelFunc
	once   sync.Once
}

// startRuntime starts containerd as a child with a generated config. It
// outlives ctx so that the agent can finish its last CRI calls; stop
// stops it.
func startRuntime(ctx context.Context, cfg AgentConfig) (*runtimeChild, error) {
	cd, err := containerd.New(containerd.Config{DataDir: cfg.DataDir, ClusterCIDR: cfg.ClusterCIDR, RegistryCAs: cfg.RegistryCAs, OCIRuntime: cfg.OCIRuntime, Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	cdCtx, cdCancel := context.WithCancel(context.WithoutCancel(ctx))
	rc := &runtimeChild{cd: cd, done: make(chan struct{}), cancel: cdCancel}
	go func() {
		defer close(rc.done)
		if err := cd.Run(cdCtx); err != nil && cdCtx.Err() == nil {
			cfg.Log.Error("containerd stopped", "err", err)
			rc.err = err
		}
	}()
	return rc, nil
}

// wait returns containerd's CRI endpoint once it is ready (the pause
// image imported), or why it is not; it stops containerd on failure.
func (rc *runtimeChild) wait(ctx context.Context) (string, error) {
	select {
	case <-rc.cd.Ready():
		return rc.cd.Endpoint(), nil
	case <-rc.done:
		if rc.err != nil {
			return "", rc.err
		}
		return "", fmt.Errorf("containerd did not start; see %s", rc.cd.LogPath())
	case <-time.After(90 * time.Second):
		rc.stop()
		return "", fmt.Errorf("containerd did not become ready within 90s; see %s", rc.cd.LogPath())
	case <-ctx.Done():
		rc.stop()
		return "", ctx.Err()
	}
}

// stop stops containerd (pods keep running) and waits for it; it is safe
// to call more than once.
func (rc *runtimeChild) stop() {
	rc.once.Do(func() { rc.cancel(); <-rc.done })
}

// startAgent connects CRI and starts the agent: to rt when not nil (a
// containerd child started already), else to cfg's endpoint, else to a
// containerd child it starts. It returns once the agent is ready or
// fails.
func startAgent(ctx context.Context, cfg AgentConfig, client kubernetes.Interface, rt *runtimeChild) (*nodeAgent, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.NodeName == "" {
		h, _ := os.Hostname()
		cfg.NodeName = strings.ToLower(h)
	}
	na := &nodeAgent{stopRuntime: func() {}, done: make(chan error, 1)}
	endpoint := cfg.ContainerRuntimeEndpoint
	if endpoint == "" {
		if rt == nil {
			var err error
			if rt, err = startRuntime(ctx, cfg); err != nil {
				return nil, err
			}
		}
		na.stopRuntime = rt.stop
		var err error
		if endpoint, err = rt.wait(ctx); err != nil {
			return nil, err
		}
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	crt, err := cri.Dial(dialCtx, endpoint)
	cancel()
	if err != nil {
		na.stopRuntime()
		return nil, fmt.Errorf("connecting to the container runtime at %s: %w", endpoint, err)
	}
	na.runtime = crt
	vm, err := volumes.New(volumes.Config{Client: client, Log: cfg.Log, ProjectTokens: true})
	if err != nil {
		na.stopRuntime()
		return nil, err
	}
	go func() { _ = vm.Run(ctx) }()
	agentDir := filepath.Join(cfg.DataDir, "agent")
	imgs, err := images.New(images.Config{Runtime: crt, Secrets: images.SecretsFromClient(client), DataDir: agentDir,
		VerificationPolicy: cfg.ImagePullCredentialsVerificationPolicy, Log: cfg.Log.With("component", "images")})
	if err != nil {
		na.stopRuntime()
		return nil, err
	}
	if err := startClusterDNS(ctx, cfg, client); err != nil {
		na.stopRuntime()
		return nil, err
	}
	nodeIP := agent.HostIP()
	var kubeletLn net.Listener
	var kubeletTLS *tls.Config
	if cfg.KubeletServing != nil && cfg.KubeletClientCA != nil {
		serving, err := cfg.KubeletServing([]string{nodeIP, cfg.NodeName, "127.0.0.1"})
		if err != nil {
			na.stopRuntime()
			return nil, fmt.Errorf("issuing the kubelet endpoint's certificate: %w", err)
		}
		kubeletTLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientCAs: cfg.KubeletClientCA}
		if kubeletLn, err = net.Listen("tcp", net.JoinHostPort(nodeIP, strconv.Itoa(cfg.KubeletPort))); err != nil {
			na.stopRuntime()
			return nil, fmt.Errorf("listening for the kubelet endpoint on %s: %w", nodeIP, err)
		}
	}
	kubeletPort := 0
	if kubeletLn != nil {
		kubeletPort = kubeletLn.Addr().(*net.TCPAddr).Port
	}
	a, err := agent.New(agent.Config{Client: client, Runtime: crt, NodeName: cfg.NodeName, NodeIP: nodeIP, KubeletPort: kubeletPort,
		DataDir: agentDir, PodCIDR: cfg.ClusterCIDR, ClusterDNS: cfg.ClusterDNS, Volumes: vm, Images: imgs, Log: cfg.Log})
	if err != nil {
		na.stopRuntime()
		return nil, err
	}
	na.agent = a
	go func() { na.done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
		if kubeletLn != nil {
			// The kubelet's webhook authorization: a SubjectAccessReview
			// per request (cached 5 min allowed, 30 s denied, as its
			// defaults), so the API server's client certificate needs
			// nodes/proxy.
			authz, err := authorizerfactory.DelegatingAuthorizerConfig{SubjectAccessReviewClient: client.AuthorizationV1(),
				AllowCacheTTL: 5 * time.Minute, DenyCacheTTL: 30 * time.Second,
				WebhookRetryBackoff: &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}}.New()
			if err != nil {
				return nil, err
			}
			ks, err := agentserver.New(agentserver.Config{Runtime: crt, Pods: agentserver.PodGetterFunc(a.GetPod),
				Listener: kubeletLn, TLS: kubeletTLS, Log: cfg.Log, DataDir: agentDir, Authorizer: authz, NodeName: cfg.NodeName,
				ListPods: a.ListPods})
			if err != nil {
				return nil, err
			}
			go func() {
				if err := ks.Run(ctx); err != nil {
					cfg.Log.Error("kubelet endpoint stopped", "err", err)
				}
			}()
		}
		return na, nil
	case err := <-na.done:
		na.stopRuntime()
		return nil, fmt.Errorf("node agent: %v", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startClusterDNS runs the cluster DNS server on the pod network's gateway,
// port 53, until ctx ends; the kube-dns Service's Endpoints point there.
// The bridge takes the gateway address only when the first pod starts,
// hence FreeBind.
func startClusterDNS(ctx context.Context, cfg AgentConfig, client kubernetes.Interface) error {
	cidr := cfg.ClusterCIDR
	if cidr == "" {
		cidr = containerd.DefaultClusterCIDR
	}
	gw, err := clusterdns.GatewayIP(cidr)
	if err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
	}
	srv, err := clusterdns.New(clusterdns.Config{Client: client, Addr: net.JoinHostPort(gw.String(), "53"), FreeBind: true, Log: cfg.Log})
	if err != nil {
		return err
	}
	go func() {
		if err := srv.Run(ctx); err != nil {
			cfg.Log.Error("cluster DNS stopped", "err", err)
		}
	}()
	return nil
}

// stop waits for the agent to end (its context must be cancelled) and
// then stops the runtime child, leaving containers running.
func (na *nodeAgent) stop(timeout time.Duration) {
	select {
	case _ = <-na.done:
	case <-time.After(timeout):
	}
	na.runtime.Close()
	na.stopRuntime()
}

// RunAgent runs the node agent alone against any API server.
func RunAgent(ctx context.Context, cfg AgentConfig) error {
	if err := checkVerificationPolicy(cfg.ImagePullCredentialsVerificationPolicy); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("reading kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rc.QPS, rc.Burst = 100, 200
	rc.ContentConfig = protobufContent() // as the kubelet speaks to kube-apiserver
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if cfg.NodeName == "" {
		h, _ := os.Hostname()
		cfg.NodeName = strings.ToLower(h)
	}
	if err := checkAgentCerts(cfg, rc, agent.HostIP(), time.Now()); err != nil {
		return err
	}
	if err := kubeletEndpointTLS(&cfg, rc); err != nil {
		return err
	}
	// The Service proxy (kube-proxy's job) runs with the node.
	prx, err := proxy.New(proxy.Config{Client: client, Table: proxy.TableName(cfg.DataDir), Log: cfg.Log})
	if err != nil {
		return err
	}
	if err := prx.Setup(ctx); err != nil {
		return err
	}
	proxyCtx, stopProxy := context.WithCancel(ctx)
	proxyDone := make(chan struct{})
	go func() {
		defer close(proxyDone)
		_ = prx.Run(proxyCtx)
	}()
	// Stop the proxy (it deletes its table) on every return.
	defer func() { stopProxy(); <-proxyDone }()
	na, err := startAgent(ctx, cfg, client, nil)
	if err != nil {
		return err
	}
	cfg.Log.Info("berth agent ready", "node", cfg.NodeName)
	<-ctx.Done()
	na.stop(8 * time.Second)
	return nil
}

// kubeletEndpointTLS fills cfg's kubelet endpoint certificate and client
// CA from the kubelet-style files. Kubernetes' API servers verify the
// client side only through this CA; the serving certificate must be one
// the API server trusts (berth's checks it against the cluster CA: issue
// it with `berth kubeconfig --node NAME --kubelet-serving-dir DIR`).
func kubeletEndpointTLS(cfg *AgentConfig, rc *rest.Config) error {
	if cfg.TLSCertFile == "" && cfg.TLSPrivateKeyFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSPrivateKeyFile)
	if err != nil {
		return fmt.Errorf("loading the kubelet endpoint's certificate (--tls-cert-file, --tls-private-key-file): %w", err)
	}
	caPEM := rc.TLSClientConfig.CAData
	from := "the kubeconfig's certificate-authority"
	if cfg.ClientCAFile != "" {
		from = cfg.ClientCAFile
		if caPEM, err = os.ReadFile(cfg.ClientCAFile); err != nil {
			return fmt.Errorf("reading --client-ca-file: %w", err)
		}
	} else if rc.TLSClientConfig.CAFile != "" {
		if caPEM, err = os.ReadFile(rc.TLSClientConfig.CAFile); err != nil {
			return fmt.Errorf("reading the kubeconfig's certificate-authority: %w", err)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no CA certificate in %s: pass --client-ca-file", from)
	}
	cfg.KubeletServing = func([]string) (tls.Certificate, error) { return cert, nil }
	cfg.KubeletClientCA = pool
	return nil
}
