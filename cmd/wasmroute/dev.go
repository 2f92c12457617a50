package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/internal/dev"
)

func newDevCmd() *cobra.Command {
	f := serveFlags{human: true}
	cmd := &cobra.Command{
		Use:   "dev [DIR]",
		Short: "Build, serve, and rebuild the routes a change touches",
		Long: `Dev builds the app in DIR (DIR defaults to "."), serves it on --addr, and
watches DIR. When a file changes it rebuilds only the routes built from it
(the route's folder or any package the route imports), swaps them into the
running host without dropping requests in flight, and prints how long it took.
A build error is printed and the last good build keeps serving.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, opts, err := f.prepare(cmd, appDir(args))
			if err != nil {
				return err
			}
			defer opts.KV.Close()
			if opts.Cache != nil {
				defer opts.Cache.Close()
			}
			loop, err := dev.New(appDir(args), cmd.OutOrStdout(), opts)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			watchErr := make(chan error, 1)
			go func() {
				defer cancel() // a dead watcher stops the server too
				watchErr <- loop.Run(ctx)
			}()
			err = serve(ctx, cmd.OutOrStdout(), &f, loop.Handler(), log)
			cancel()
			if werr := <-watchErr; err == nil {
				err = werr
			}
			return err
		},
	}
	f.register(cmd)
	return cmd
}
