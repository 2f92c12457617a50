package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/httpserver"
)

func newStartCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "start [DIR]",
		Short: "Serve the bundle built in DIR/.wasmroute",
		Long: `Start serves the bundle that 'wasmroute build' wrote to DIR/.wasmroute
(DIR defaults to ".") on --addr, until interrupted.`,
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
			h, err := host.New(filepath.Join(appDir(args), bundle.DirName), opts)
			if err != nil {
				return err
			}
			defer h.Close(context.Background())
			return serve(cmd.Context(), cmd.OutOrStdout(), &f, h, log)
		},
	}
	f.register(cmd)
	return cmd
}

// serve listens on addr until ctx is done, printing the URL to out, then shuts down gracefully:
// requests in flight finish.
func serve(ctx context.Context, out io.Writer, f *serveFlags, h http.Handler, log *slog.Logger) error {
	srv, err := httpserver.Listen(f.addr, h, httpserver.Options{
		ReadHeaderTimeout: f.readHeaderTimeout, IdleTimeout: f.idleTimeout, MaxConnections: f.maxConnections, Logger: log,
		TLSCert: f.tlsCert, TLSKey: f.tlsKey})
	if err != nil {
		return err
	}
	scheme := "http"
	if f.tlsCert != "" && f.tlsKey != "" {
		scheme = "https"
	}
	// Printed whatever the log level: scripts and tests wait for this line.
	fmt.Fprintf(out, "Listening on %s://%s\n", scheme, srv.Addr())
	return srv.Serve(ctx)
}
