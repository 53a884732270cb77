package cli

import (
	"context"

	"github.com/berth-dev/berth/internal/explain"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func explainCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Explain, for people, why a pod's image pull or lifecycle hooks did what they did, and where its environment came from",
	}
	cmd.AddCommand(explainSub(&cobra.Command{
		Use:   "pull POD",
		Short: "Why an image was or was not pulled: policy, secrets, matching registry keys, registry answers, verdict",
		Long: `For each container of POD: the normalised image reference; the pull policy and where it
came from; the pull secrets (from the pod spec or copied from its service account), each used or
ignored and why; which registry keys match the image, in the order the node tries them; what the
registry answered on the last attempts; and a one-line verdict. Secret values are never printed.`,
	}, "pull records", func(ctx context.Context, e *explain.Explainer, o explain.Options) error { return e.Pull(ctx, o) }))
	cmd.AddCommand(explainSub(&cobra.Command{
		Use:   "hooks POD",
		Short: "What a pod's postStart and preStop hooks did: each run's handler, time, duration, exit code or HTTP status, error and output",
		Long: `For each container of POD: its postStart and preStop handlers; the recent runs the node
recorded (the last 10 per container), oldest first, each with when it started, how long it took, its
exit code or HTTP status, the failure message, and the tail of its output (at most 4 KiB; hook output
never goes to the container's log); why a hook that never ran did not (a container that exits by
itself gets no preStop, nor does a pod deleted with a grace period of 0); and the pod's hook events.
Secret values the node knows of (from the container's environment) are masked.`,
	}, "hook records", func(ctx context.Context, e *explain.Explainer, o explain.Options) error { return e.Hooks(ctx, o) }))
	cmd.AddCommand(explainEnvCmd())
	return cmd
}

// explainSub adds the flags every explain command takes and runs fn with
// an Explainer on the kubeconfig's cluster.
func explainSub(cmd *cobra.Command, records string, fn func(context.Context, *explain.Explainer, explain.Options) error) *cobra.Command {
	var kubeconfig, namespace, container, dataDir string
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		client, ns, err := explainClient(kubeconfig, namespace)
		if err != nil {
			return err
		}
		e := &explain.Explainer{Client: client, Out: cmd.OutOrStdout()}
		return fn(cmd.Context(), e, explain.Options{Namespace: ns, Pod: args[0], Container: container, DataDir: dataDir})
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVarP(&namespace, "namespace", "n", "", "the pod's namespace (default: the kubeconfig's)")
	f.StringVarP(&container, "container", "c", "", "only this container")
	f.StringVar(&dataDir, "data-dir", "", "berth's data dir on this machine, to read the node's "+records+" when the API cannot serve them")
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
