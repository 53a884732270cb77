package cli

import (
	"github.com/berth-dev/berth/internal/app"
	"github.com/spf13/cobra"
)

func kubeconfigCmd() *cobra.Command {
	var dataDir, user, server string
	var groups []string
	cmd := &cobra.Command{
		Use:   "kubeconfig --user NAME [--group GROUP]...",
		Short: "Print a kubeconfig with a client certificate for a user",
		Long: `Print a kubeconfig whose client certificate (signed by berth's CA) names NAME as the
user and each GROUP as a group. The user can do nothing beyond discovery until RBAC allows
it, for example edit rights in one namespace:

  berth kubeconfig --data-dir ./data --user dev > dev.kubeconfig
  kubectl create rolebinding dev-edit --clusterrole=edit --user=dev -n team-a

The certificate is valid for five years and cannot be revoked: remove the user's bindings instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	_ = cmd.MarkFlagRequired("user")
	return cmd
}
