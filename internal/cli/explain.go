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
		Short: "Explain, for people, why a pod's image pull did what it did",
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
	cmd.AddCommand(pull)
	return cmd
}
