package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/reset"
)

func resetCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Remove everything a stopped berth left on this machine, its data dir included",
		Long: `Remove what a stopped berth instance left behind, as k3s's uninstall script does: its
pods (stopped through its containerd, which is started for the purpose if needed), containerd
and its shims, the CNI bridge, the Service nftables table, the mounts and cgroups of its pods,
and finally the data dir itself. Only what belongs to --data-dir is touched; other berth
instances on the machine are left alone. Stop berth first:

  kill -TERM <berth pid>; berth reset --data-dir ./data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return reset.Run(cmd.Context(), reset.Config{DataDir: dataDir, Out: os.Stdout})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the data dir of the berth instance to remove (required)")
	_ = cmd.MarkFlagRequired("data-dir")
	return cmd
}
