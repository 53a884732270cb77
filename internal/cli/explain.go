package cli

import (
	"github.com/berth-dev/berth/internal/explain"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func explainCmd() *cobra.Command {
	var kubeconfig, namespace, container, dataDir string
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Explain, for people, why a pod's image pull did what it did, or where its environment came from",
	}
	pull := &cobra.Command{
		Use:   "pull POD",
		Short: "Why an image was or was not pulled: policy, secrets, matching registry keys, registry answers, verdict",
		Long: `For each container of POD: the normalised image reference; the pull policy and where it
came from; the pull secrets (from the pod spec or copied from its service account), each used or
ignored and why; which registry keys match the image, in the order the node tries them; what the
registry answered on the last attempts; and a one-line verdict. Secret values are never printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
			rc, err := cc.ClientConfig()
			if err != nil {
				return err
			}
			ns := namespace
			if ns == "" {
				if ns, _, err = cc.Namespace(); err != nil || ns == "" {
					ns = "default"
				}
			}
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			e := &explain.Explainer{Client: client, Out: cmd.OutOrStdout()}
			return e.Pull(cmd.Context(), explain.Options{Namespace: ns, Pod: args[0], Container: container, DataDir: dataDir})
		},
	}
	f := pull.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVarP(&namespace, "namespace", "n", "", "the pod's namespace (default: the kubeconfig's)")
	f.StringVarP(&container, "container", "c", "", "only this container")
	f.StringVar(&dataDir, "data-dir", "", "berth's data dir on this machine, to read the node's pull records when the API cannot serve them")
	cmd.AddCommand(pull, explainEnvCmd())
	return cmd
}

func explainEnvCmd() *cobra.Command {
	var kubeconfig, namespace, container, dataDir string
	var showSecrets bool
	cmd := &cobra.Command{
		Use:   "env POD",
		Short: "Where each environment variable of a container came from",
		Long: `For each container of POD (or only -c CONTAINER): every variable it was given at its last
start, in order, with its value and its origin: image ENV, the service link of which Service,
envFrom of which configMap or secret (and prefix), env[i] with the $(…) references it expanded
or left as written (and why), a fieldRef, resourceFieldRef or fileKeyRef, and what each one
overrides. Values from Secrets are masked unless --show-secrets, which reads them from the API.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ns, err := explainClient(kubeconfig, namespace)
			if err != nil {
				return err
			}
			e := &explain.Explainer{Client: client, Out: cmd.OutOrStdout()}
			return e.Env(cmd.Context(), explain.EnvOptions{ShowSecrets: showSecrets,
				Options: explain.Options{Namespace: ns, Pod: args[0], Container: container, DataDir: dataDir}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVarP(&namespace, "namespace", "n", "", "the pod's namespace (default: the kubeconfig's)")
	f.StringVarP(&container, "container", "c", "", "only this container")
	f.BoolVar(&showSecrets, "show-secrets", false, "print the values that came from Secrets (read from the API now)")
	f.StringVar(&dataDir, "data-dir", "", "berth's data dir on this machine, to read the node's env records when the API cannot serve them")
	return cmd
}

// explainClient is a client from the kubeconfig and the namespace to use
// (the flag, else the kubeconfig's, else default), as kubectl decides.
func explainClient(kubeconfig, namespace string) (kubernetes.Interface, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns := namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	client, err := kubernetes.NewForConfig(rc)
	return client, ns, err
}
