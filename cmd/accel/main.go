// Command accel is the CLI and the daemon of an accel node: it runs,
// measures and evaluates Llama models from files or by CID, adds them to
// the node's repo as content-addressed blocks, pins them from peers,
// imports and exports them as CARs, and runs the daemon that serves them
// to peers and browsers (bitswap, bulk transfer, layer offload, a trustless
// gateway, the browser SDK and web UI).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "accel",
		Short:         "Run quantized LLMs delivered as content-addressed blocks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(runCmd(), benchCmd(), synthCmd(), evalCmd())
	root.AddCommand(initCmd(), daemonCmd(), idCmd(), swarmCmd(), addCmd(), pinCmd(), statCmd(), getCmd(), exportCmd(), importCmd(), gcCmd(), repoCmd(), versionCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
