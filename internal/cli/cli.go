// Package cli defines berth's commands: flags become config structs for
// internal/app; no logic lives here.
package cli

import (
	"log/slog"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/app"
	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// New returns the root command.
func New() *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "A single-node, Kubernetes-compatible pod system",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCmd(), agentCmd(), explainCmd(), kubeconfigCmd(), resetCmd())
	return root
}

func logger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	// client-go logs through klog; its reflector complaints when the API
	// server stops are noise unless debugging.
	if l <= slog.LevelDebug {
		klog.SetSlogLogger(log)
	} else {
		klog.SetLogger(logr.Discard())
	}
	return log
}

func serverCmd() *cobra.Command {
	var cfg app.ServerConfig
	var plugins []string
	var logLevel string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API server, its etcd, the controllers and the node agent, in the foreground",
		Long: `Run berth: the Kubernetes API (served over HTTPS), embedded etcd storage, the controllers
and the node agent. Once it is ready it writes DATA_DIR/kubeconfig for kubectl:

  berth server --data-dir ./data &
  kubectl --kubeconfig ./data/kubeconfig get pods

SIGTERM or SIGINT stops it cleanly; the same --data-dir brings every object back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range plugins {
				for _, name := range strings.Split(p, ",") {
					if name = strings.TrimSpace(name); name != "" {
						cfg.AdmissionPlugins = append(cfg.AdmissionPlugins, name)
					}
				}
			}
			cfg.Log = logger(logLevel)
			return app.RunServer(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for etcd data, certificates and the kubeconfig (required)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:6443", "address of the HTTPS API; port 0 picks a free port")
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringSliceVar(&cfg.EtcdServers, "etcd-servers", nil, "external etcd endpoints; empty runs etcd embedded under --data-dir, reachable only through a unix socket there")
	f.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA file verifying the --etcd-servers' certificates")
	f.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate presented to --etcd-servers")
	f.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "key of --etcd-certfile")
	f.StringSliceVar(&plugins, "enable-admission-plugins", nil, "admission plugins to enable besides the defaults: AlwaysPullImages")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "run the control plane only, without the node agent")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.96.0.0/12", "range Service ClusterIPs are allocated from")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "range pod IPs are allocated from")
	f.IntVar(&cfg.KubeletPort, "kubelet-port", 0, "port of the node agent's kubelet endpoint (the kubelet's --port, 10250 on Kubernetes); 0 picks a free one")
	f.StringVar(&cfg.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "use this CRI endpoint (e.g. unix:///run/containerd/containerd.sock) instead of starting containerd")
	f.StringToStringVar(&cfg.RegistryCAs, "registry-ca", nil, "trust a CA for an HTTPS registry: HOST=CA_FILE (repeatable), e.g. harbor.example.com=/etc/ssl/harbor-ca.pem")
	f.StringVar(&cfg.OCIRuntime, "oci-runtime", ociRuntimeDefault(), ociRuntimeUsage)
	f.StringVar(&cfg.ImagePullCredentialsVerificationPolicy, "image-pull-credentials-verification-policy", "NeverVerifyPreloadedImages",
		"when a present image needs the pod's own credentials (KEP-2535): NeverVerify, NeverVerifyPreloadedImages, NeverVerifyAllowlistedImages or AlwaysVerify")
	f.BoolVar(&cfg.Profiling, "profiling", true, "serve Go's profiles at /debug/pprof/ on the API port, to users RBAC allows that path (kube-apiserver's --profiling)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	_ = cmd.MarkFlagRequired("data-dir")
	return cmd
}

func agentCmd() *cobra.Command {
	var cfg app.AgentConfig
	var logLevel string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent alone, against the API server in --kubeconfig",
		Long: `Run only berth's node agent (the kubelet part). It registers this machine as a Node
with the API server named in --kubeconfig (berth's own, or a Kubernetes control plane) and
runs the pods bound to it in containerd.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Log = logger(logLevel)
			return app.RunAgent(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig of the API server to join (required)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for containerd, pod logs and agent state (required)")
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringVar(&cfg.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "use this CRI endpoint instead of starting containerd")
	f.StringToStringVar(&cfg.RegistryCAs, "registry-ca", nil, "trust a CA for an HTTPS registry: HOST=CA_FILE (repeatable)")
	f.StringVar(&cfg.OCIRuntime, "oci-runtime", ociRuntimeDefault(), ociRuntimeUsage)
	f.StringVar(&cfg.ImagePullCredentialsVerificationPolicy, "image-pull-credentials-verification-policy", "NeverVerifyPreloadedImages",
		"when a present image needs the pod's own credentials (KEP-2535): NeverVerify, NeverVerifyPreloadedImages, NeverVerifyAllowlistedImages or AlwaysVerify")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "range pod IPs are allocated from")
	f.IntVar(&cfg.KubeletPort, "port", 10250, "port of the kubelet endpoint (logs, exec, attach, port-forward); 0 picks a free one")
	f.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "serving certificate of the kubelet endpoint; without it the endpoint is off")
	f.StringVar(&cfg.TLSPrivateKeyFile, "tls-private-key-file", "", "key of --tls-cert-file")
	f.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "CA the API server's client certificate must chain to (default: the kubeconfig's CA); each request is then authorized with a SubjectAccessReview")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	_ = cmd.MarkFlagRequired("kubeconfig")
	_ = cmd.MarkFlagRequired("data-dir")
	return cmd
}

const ociRuntimeUsage = "OCI runtime of the containerd berth starts: auto (crun when installed and usable, else runc), crun or runc; both are registered as runtime handlers (default $BERTH_OCI_RUNTIME, else auto)"

// ociRuntimeDefault lets benchmarks and tests pick the runtime of servers
// they start without another flag to thread through.
func ociRuntimeDefault() string {
	if v := os.Getenv("BERTH_OCI_RUNTIME"); v != "" {
		return v
	}
	return "auto"
}
