package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/node"
)

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print accel's version, the Go it was built with, and whether the browser SDK is embedded",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sdk := "embedded"
			if !browser.Embedded() {
				sdk = "not embedded (build with make build)"
			}
			fmt.Printf("accel version %s\ngo: %s %s/%s\nsdk: %s\n", node.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, sdk)
			return nil
		},
	}
}
