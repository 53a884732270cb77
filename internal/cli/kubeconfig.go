package cli

import (
	"fmt"

	"github.com/berth-dev/berth/internal/app"
	"github.com/spf13/cobra"
)

func kubeconfigCmd() *cobra.Command {
	var dataDir, user, node, server string
	var groups, servingHosts []string
	var servingDir string
	cmd := &cobra.Command{
		Use:   "kubeconfig (--user NAME [--group GROUP]... | --node NAME)",
		Short: "Print a kubeconfig with a client certificate for a user or a node",
		Long: `Print a kubeconfig whose client certificate (signed by berth's CA) names NAME as the
user and each GROUP as a group. The user can do nothing beyond discovery until RBAC allows
it, for example edit rights in one namespace:

  berth kubeconfig --data-dir ./data --user dev > dev.kubeconfig
  kubectl create rolebinding dev-edit --clusterrole=edit --user=dev -n team-a

The certificate is valid for five years and cannot be revoked: remove the user's bindings instead.

--node NAME prints the kubeconfig a second machine's agent joins with: the identity
system:node:NAME in group system:nodes, which may do only what Kubernetes allows a node
(the Node authorizer and NodeRestriction: its own Node and Lease, its pods' status, the
secrets and configmaps its pods use):

  berth kubeconfig --data-dir ./data --node n2 > n2.kubeconfig
  berth agent --kubeconfig n2.kubeconfig --node-name n2 --data-dir /var/lib/berth-agent

With --kubelet-serving-dir DIR it also writes DIR/kubelet.crt and DIR/kubelet.key, the
serving certificate of the agent's kubelet endpoint (kubectl logs, exec, port-forward):

  berth agent ... --tls-cert-file DIR/kubelet.crt --tls-private-key-file DIR/kubelet.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if node != "" {
				if len(groups) > 0 {
					return fmt.Errorf("--group cannot be used with --node: a node's only group is %s", app.NodesGroup)
				}
				user, groups = app.NodeUser(node), []string{app.NodesGroup}
			}
			if servingDir != "" {
				if node == "" {
					return fmt.Errorf("--kubelet-serving-dir needs --node")
				}
				if err := app.WriteKubeletServing(dataDir, node, servingHosts, servingDir); err != nil {
					return err
				}
			}
			kc, err := app.UserKubeconfig(dataDir, user, groups, server)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(kc)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "berth server's data directory (its CA signs the certificate) (required)")
	f.StringVar(&user, "user", "", "user name (the certificate's CN) (required)")
	f.StringSliceVar(&groups, "group", nil, "group (the certificate's O); repeatable")
	f.StringVar(&server, "server", "", "API server URL (default: the one in DATA_DIR/kubeconfig)")
	_ = cmd.MarkFlagRequired("data-dir")
	f.StringVar(&node, "node", "", "node name: the certificate is for system:node:NAME in group system:nodes")
	f.StringVar(&servingDir, "kubelet-serving-dir", "", "with --node: also write kubelet.crt and kubelet.key, a serving certificate for the agent's kubelet endpoint (berth agent --tls-cert-file/--tls-private-key-file), into this directory")
	f.StringSliceVar(&servingHosts, "kubelet-serving-host", nil, "names and IPs of --kubelet-serving-dir's certificate (default: the node name, this machine's IP and 127.0.0.1)")
	cmd.MarkFlagsOneRequired("user", "node")
	cmd.MarkFlagsMutuallyExclusive("user", "node")
	return cmd
}
