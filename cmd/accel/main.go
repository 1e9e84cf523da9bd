// Command accel runs, measures and converts Llama models (and, as the
// project grows, serves them from a peer-to-peer network).
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
	root.AddCommand(initCmd(), daemonCmd(), idCmd(), swarmCmd(), addCmd(), pinCmd(), statCmd(), getCmd(), exportCmd(), importCmd(), gcCmd(), repoCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
