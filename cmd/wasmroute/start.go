package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/bundle"
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
			h, err := host.New(filepath.Join(appDir(args), bundle.DirName), opts)
			if err != nil {
				return err
			}
			defer h.Close(context.Background())
			return serve(cmd.Context(), cmd.OutOrStdout(), f.addr, h, log)
		},
	}
	f.register(cmd)
	return cmd
}

// serve listens on addr until ctx is done, printing the URL to out, then shuts down gracefully:
// requests in flight finish.
func serve(ctx context.Context, out io.Writer, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// The host answers headers over its own limit (64 KiB) with a JSON
		// 431 and a log line; net/http's cap only stops abuse beyond that.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Printed whatever the log level: scripts and tests wait for this line.
	fmt.Fprintf(out, "Listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
