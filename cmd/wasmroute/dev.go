package main

import "github.com/spf13/cobra"

func newDevCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "dev [DIR]",
		Short: "Build, serve and rebuild on change",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
